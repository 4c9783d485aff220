"""Plugin processes: discovery, describe cache, start, handshake and stop.

:class:`bakehouse.plugin.manager.PluginManager` is the one entry point the
rest of the core uses.
"""
