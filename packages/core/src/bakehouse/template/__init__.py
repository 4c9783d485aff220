"""Packer templates (HCL2, and legacy JSON read as HCL2) into builds to run.

Modules, in the order the loader runs them (import them directly):

* :mod:`~bakehouse.template.loader` -- ``load`` / ``load_template``: runs the
  stages below and collects their diagnostics.
* :mod:`~bakehouse.template.discovery` -- the template's files, parsing, the
  top-level blocks; :mod:`~bakehouse.template.legacy_json` -- JSON templates.
* :mod:`~bakehouse.template.packer_block` -- ``packer { }``;
  :mod:`~bakehouse.template.versions` -- version constraints.
* :mod:`~bakehouse.template.variables` -- ``variable``/``variables``, a value
  per source picked by precedence, var files, validation.
* :mod:`~bakehouse.template.locals_data` -- ``locals``/``local``/``data`` as one
  dependency graph.
* :mod:`~bakehouse.template.sources`, :mod:`~bakehouse.template.builds` --
  ``source`` and ``build`` blocks into :mod:`~bakehouse.template.plan`'s model;
  :mod:`~bakehouse.template.components` -- builder, provisioner and
  post-processor blocks with deferred configs; :mod:`~bakehouse.template.dynamic`
  -- ``dynamic`` blocks.
* :mod:`~bakehouse.template.scope` -- evaluation contexts and helpers;
  :mod:`~bakehouse.template.sensitive` -- values to redact.

Each block type declares its arguments and nested blocks as a
:class:`bakehouse.hcl.schema.BodySchema`, so that every body is checked, and
reported on, the same way.
"""
