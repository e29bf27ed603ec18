"""The integration suite's fixtures live in fixtures.py (shared with tests/security)."""

from fixtures import fresh_server, lam, server  # noqa: F401


def pytest_sessionfinish(session: object, exitstatus: object) -> None:
    """Whatever a test left (a server it did not stop, a killed one's network) is swept."""
    from harness import sweep_servers

    sweep_servers()
