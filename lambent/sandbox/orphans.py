"""Sandboxes left behind by an owner that died without tearing them down.

bwrap's ``--die-with-parent`` reaches the sandbox's init only once bwrap has finished setting it
up: if the owner (and with it the outer bwrap) is SIGKILLed between bwrap's clone of the init and
that setup, the init stays blocked for ever on a descriptor nobody will write, outside any cgroup.
Its command line is bwrap's and names directories only its owner mounts, which is how a
restarted owner finds and kills it (an owner holds its directories alone: no live sandbox of its
own can exist before it starts, or after it stopped).
"""

from __future__ import annotations

import os
import signal


def kill_leftover_sandboxes(marker: str) -> int:
    """SIGKILL every bwrap process whose command line contains ``marker`` (say, the directory
    the owner's sandboxes mount their code from); returns how many were signalled."""
    needle = marker.encode()
    killed = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        program = cmdline.split(b"\0", 1)[0]
        if os.path.basename(program) != b"bwrap" or needle not in cmdline:
            continue
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except OSError:
            continue
    return killed
