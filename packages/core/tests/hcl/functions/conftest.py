"""Fixtures for the function-library tests; the helpers live in fnsupport.py."""

from fnsupport import call, ev  # noqa: F401  (fixtures)
