"""In-sandbox runtime clients for lambent's managed runtimes.

Each ``lambent/runtimes/<language>/`` folder is mounted read-only at ``/var/runtime`` inside the
sandbox and its bootstrap is the environment's first process. The bootstraps import nothing from
lambent (they run under the sandbox's interpreter, not the platform's); this module only tells
the other layers where they are and how to start them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Language = Literal["python", "nodejs"]

RUNTIME_MOUNT = "/var/runtime"

# argv of the first process in the sandbox, per language (paths as seen inside the sandbox).
BOOTSTRAP_ARGV: dict[Language, tuple[str, ...]] = {
    "python": ("/usr/bin/python3.11", "-S", "-u", f"{RUNTIME_MOUNT}/bootstrap.py"),
    "nodejs": ("/usr/bin/node", f"{RUNTIME_MOUNT}/bootstrap.mjs"),
}


def runtime_dir(language: Language) -> Path:
    """The host folder to mount read-only at /var/runtime for ``language``."""
    return Path(__file__).resolve().parent / language
