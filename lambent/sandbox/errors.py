"""The sandbox layer's only error class.

Every failure the layer can report (bwrap missing, cgroups not usable, a cgroup file that cannot
be written, a start that timed out, bwrap exiting before its handshake) is a ``SandboxError``
whose message says what failed; ``path`` and ``hint`` carry the details a log line needs.
Plain ``ValueError`` is used only for invalid specs, which are programming errors of the caller.
"""

from __future__ import annotations


class SandboxError(Exception):
    """Isolation could not be set up, observed or torn down."""

    def __init__(
        self,
        message: str,
        *,
        sandbox_id: str | None = None,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.sandbox_id = sandbox_id
        self.path = path
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.message]
        if self.sandbox_id is not None:
            parts.append(f"sandbox={self.sandbox_id}")
        if self.path is not None:
            parts.append(f"path={self.path}")
        if self.hint is not None:
            parts.append(f"hint: {self.hint}")
        return "; ".join(parts)
