"""Pipe RPC between the core and plugin processes (see docs/rpc.md).

The wire: :mod:`~bakehouse.rpc.codec` (message shapes, msgpack) and
:mod:`~bakehouse.rpc.transport` (frames over two pipes). The object model:
:mod:`~bakehouse.rpc.session` (calls both ways, handles, cancellation links,
flow-controlled streams) and :mod:`~bakehouse.rpc.interfaces` (which SDK
objects cross as handles, and their proxies). :mod:`~bakehouse.rpc.server` is
the plugin side behind :func:`bakehouse.sdk.serve`.
"""
