"""The escape and exhaustion suite (``make test-security``): each test attacks lambent the way a
hostile function or an unauthenticated client would and asserts the exact refusal. It uses the
integration suite's real server (fixtures.py and harness.py in tests/integration)."""

from fixtures import fresh_server, lam, server  # noqa: F401


def pytest_sessionfinish(session: object, exitstatus: object) -> None:
    """Whatever a test left (a server it did not stop, a killed one's network) is swept."""
    from harness import sweep_servers

    sweep_servers()
