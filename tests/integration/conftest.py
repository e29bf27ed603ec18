"""The integration suite's fixtures live in fixtures.py (shared with tests/security)."""

from fixtures import fresh_server, lam, server  # noqa: F401
