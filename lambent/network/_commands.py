"""Running ``ip``/``nft``/``nsenter`` with a batch on stdin; a failure is a NetworkSetupFailed
naming the command and what it printed."""

from __future__ import annotations

import asyncio
import subprocess

from .errors import NetworkSetupFailed

__all__ = ["run", "run_sync"]


async def run(argv: list[str], stdin: str = "", *, what: str) -> str:
    try:
        # No batch: no pipe (uvloop raises RuntimeError writing b"" to a command that already exited).
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
    except OSError as exc:
        raise NetworkSetupFailed(f"cannot set up the network: {what}", command=argv[0], error=str(exc)) from exc
    out, err = await proc.communicate(stdin.encode() if stdin else None)
    if proc.returncode != 0:
        raise NetworkSetupFailed(f"cannot set up the network: {what}", command=" ".join(argv),
                                 error=err.decode(errors="replace").strip())
    return out.decode(errors="replace")


def run_sync(argv: list[str], stdin: str = "", *, what: str, check: bool = True) -> str:
    try:
        done = subprocess.run(argv, input=stdin.encode(), capture_output=True, check=False)  # noqa: S603
    except OSError as exc:
        raise NetworkSetupFailed(f"cannot set up the network: {what}", command=argv[0], error=str(exc)) from exc
    if check and done.returncode != 0:
        raise NetworkSetupFailed(f"cannot set up the network: {what}", command=" ".join(argv),
                                 error=done.stderr.decode(errors="replace").strip())
    return done.stdout.decode(errors="replace")
