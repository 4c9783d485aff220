"""Packer-compatible HCL2: parsing, typed values and evaluation.

Modules (import them directly; this package imports nothing on its own so that
``import bakehouse.hcl.diagnostics`` stays cheap):

* :mod:`~bakehouse.hcl.values` -- cty-like types and immutable values
  (typed null, unknown, sensitive), ``convert``, ``unify``.
* :mod:`~bakehouse.hcl.parser` -- ``parse_file`` / ``parse_text`` /
  ``parse_expression`` / ``parse_template`` over python-hcl2's grammar, with the
  fixes HCL needs; the compiled grammar is cached on disk.
* :mod:`~bakehouse.hcl.ast` -- the expression nodes the evaluator walks.
* :mod:`~bakehouse.hcl.evaluator` -- ``EvalContext``, ``evaluate``,
  ``evaluate_type`` (variable type constraints with ``optional`` defaults).
* :mod:`~bakehouse.hcl.function` -- the function calling convention;
  :mod:`~bakehouse.hcl.functions` -- Packer's function library.
* :mod:`~bakehouse.hcl.schema` -- ``decode_body``: check a body against the
  arguments and blocks a block type declares, with uniform diagnostics.
* :mod:`~bakehouse.hcl.diagnostics` -- errors and warnings with positions.
"""
