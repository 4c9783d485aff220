"""Test plugin executables (made runnable by ``tests.fixtures.processes.plugin_dir``)."""
