"""Which Lambda runtimes this host can run, and how each one starts inside a sandbox.

A managed runtime maps to an interpreter on the host (bind-mounted read-only with /usr) plus our
runtime client in ``lambent/runtimes/<language>``, mounted at /var/runtime. ``provided*`` runtimes
start the package's own ``bootstrap``. See https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

RUNTIMES_DIR = Path(__file__).resolve().parent.parent / "runtimes"
_PY = re.compile(r"^python3\.(\d+)$")
_NODE = re.compile(r"^nodejs(\d+)\.x$")
CUSTOM = ("provided", "provided.al2", "provided.al2023")
#: Runtimes AWS no longer lets functions be created or updated with (past their "block function
#: create/update" dates, https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html); AWS
#: answers them with :func:`deprecated_message` (recorded answers: LocalStack's runtime snapshots).
#: Existing functions keep running ("provided" stays launchable for them).
DEPRECATED = frozenset({
    "nodejs", "nodejs4.3", "nodejs4.3-edge", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x",
    "python2.7", "python3.6", "python3.7", "ruby2.5", "ruby2.7", "java8", "dotnetcore1.0", "dotnetcore2.0",
    "dotnetcore2.1", "dotnetcore3.1", "go1.x", "provided",
})


def deprecated_message(runtime: str) -> str:
    return (f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
            "functions. We recommend you use a supported runtime while creating or updating functions.")
#: The AWS SDK for Python that Lambda's Python runtimes include
#: (https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html), with what it imports: taken from
#: this server's own environment and importable after /var/task and layers, as on AWS.
PYTHON_SDK = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
_SDK_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
SDK_STAMP = ".sdk-versions"

#: How the Python runtime starts: its bootstrap from /var/runtime's byte-code cache. A script named
#: on the command line is compiled on every start (~30 ms of a cold start here); imported, its
#: .pyc is used. ``-P`` keeps the working directory (/var/task) off sys.path, so a function's own
#: ``bootstrap.py`` cannot stand in; sys.argv is made what it is for the script; and the module
#: leaves sys.modules, so a function's own ``import bootstrap`` still finds its own module.
_PY_BOOTSTRAP = (
    "import sys; sys.argv[:] = sys.argv[1:]; import bootstrap; del sys.modules['bootstrap']; bootstrap.main()"
)

#: Run by each runtime interpreter in the installed python runtime dir (its cwd: no host path on
#: the command line, which the orphan sweep matches). The SDK packages (directories) are compiled
#: UNCHECKED_HASH: hard-linked sources keep their site-packages mtimes and a refresh re-links them
#: without their __pycache__; top-level files (our bootstrap, six.py) CHECKED_HASH, since they are
#: rewritten in place when they change. py_compile writes each .pyc to a temporary file and
#: renames it, so a cold start sees a complete .pyc or none. ``ddir`` names the files as the
#: sandbox sees them, for tracebacks. It runs SCHED_IDLE: a second or two of CPU that must not slow
#: the cold starts of a server that just started; the bootstrap goes first. One process, no worker
#: pool: PR_SET_PDEATHSIG is not inherited by forks, and a pool's workers outlived a killed server.
_COMPILE = """
import compileall, ctypes, os, py_compile, signal, sys
# Dies with the server (PR_SET_PDEATHSIG = 1): a crashed server's compile must not go on writing
# into a sandbox dir its reaper or a test is removing.
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
except (AttributeError, OSError):
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit(1)
try:
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
except (AttributeError, OSError):
    os.nice(19)
os.umask(0o022)
ok = True
names = [n for n in sorted(os.listdir(".")) if not n.startswith(".") and n != "__pycache__"]
for name in names:
    if name.endswith(".py") and os.path.isfile(name):
        ok = compileall.compile_file(name, ddir="/var/runtime", quiet=1,
                                     invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH) and ok
for name in names:
    if os.path.isdir(name):
        ok = compileall.compile_dir(name, ddir="/var/runtime/" + name, quiet=1, workers=1,
                                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH) and ok
sys.exit(0 if ok else 1)
"""


@dataclass(frozen=True)
class RuntimeLaunch:
    """How to start one runtime inside a sandbox."""

    argv: tuple[str, ...]
    #: Host directory mounted at /var/runtime (None for custom runtimes).
    runtime_dir: Path | None
    extra_env: tuple[tuple[str, str], ...] = ()


class RuntimeCatalog:
    """The runtimes supported on this host. Scope: one per server, computed at start-up."""

    def __init__(
        self, python_bin: str = "/usr/bin/python3", node_bin: str = "/usr/bin/node", runtimes_dir: Path = RUNTIMES_DIR
    ) -> None:
        self._launch: dict[str, RuntimeLaunch] = {}
        py_dir = Path(python_bin).parent
        for minor in range(11, 20):
            exe = py_dir / f"python3.{minor}"
            if os.access(exe, os.X_OK):
                self._launch[f"python3.{minor}"] = RuntimeLaunch(
                    (str(exe), "-S", "-u", "-P", "-c", _PY_BOOTSTRAP, "/var/runtime/bootstrap.py"),
                    runtimes_dir / "python", (("PYTHONPATH", "/var/runtime"),),
                )
        major = _node_major(node_bin)
        if major is not None:
            self._launch[f"nodejs{major}.x"] = RuntimeLaunch(
                (node_bin, "/var/runtime/bootstrap.mjs"), runtimes_dir / "nodejs",
                (("NODE_PATH", "/opt/nodejs/node_modules:/var/runtime/node_modules:/var/task"),),
            )
        for name in CUSTOM:
            self._launch[name] = RuntimeLaunch(("/var/task/bootstrap",), None)

        self._python_dir = runtimes_dir / "python"
        self._compiler: threading.Thread | None = None

    def compile_python(self) -> threading.Thread | None:
        """Byte-compile the installed Python runtime dir (our bootstrap and the SDK) for every
        Python runtime's interpreter, in a background thread, unless it already is for these
        versions. Returns the thread (None if there is nothing to compile). Once per server start."""
        if self._compiler is None and (self._python_dir / SDK_STAMP).exists():
            exes = sorted({launch.argv[0] for name, launch in self._launch.items() if _PY.match(name)})
            if exes:
                self._compiler = threading.Thread(
                    target=compile_python_runtime, args=(self._python_dir, exes), name="compile-python-runtime", daemon=True
                )
                self._compiler.start()
        return self._compiler

    @property
    def names(self) -> list[str]:
        return sorted(self._launch)

    def supports(self, runtime: str) -> bool:
        return runtime in self._launch

    def launch(self, runtime: str) -> RuntimeLaunch:
        return self._launch[runtime]

    @staticmethod
    def language(runtime: str) -> str:
        if _PY.match(runtime):
            return "python"
        if _NODE.match(runtime):
            return "nodejs"
        return "custom"


def install_runtime_clients(dest: Path) -> Path:
    """Copy the in-sandbox runtime clients to ``dest`` (world-readable), for sandboxes to mount."""
    for lang in ("python", "nodejs"):
        src = RUNTIMES_DIR / lang
        target = dest / lang
        target.mkdir(parents=True, exist_ok=True)
        os.chmod(target, 0o755)
        for f in src.iterdir():
            if f.is_file() and f.suffix in (".py", ".mjs", ".js", ".cjs", ".json"):
                data = f.read_bytes()
                out = target / f.name
                if not out.exists() or out.read_bytes() != data:
                    tmp = out.with_suffix(out.suffix + ".tmp")
                    tmp.write_bytes(data)
                    os.chmod(tmp, 0o644)
                    os.replace(tmp, out)
    install_python_sdk(dest / "python")
    os.chmod(dest, 0o755)
    return dest


def install_python_sdk(target: Path) -> None:
    """Place :data:`PYTHON_SDK` in ``target`` (mounted at /var/runtime), as hard links where the
    file system allows (no copy of botocore's 30 MB per server), refreshed when versions change."""
    stamp = target / SDK_STAMP
    versions = "\n".join(f"{d}=={_version(d)}" for d in _SDK_DISTRIBUTIONS)
    if stamp.exists() and stamp.read_text() == versions:
        return
    for compiled in target.glob(".compiled-*"):
        compiled.unlink()  # the packages come back without their __pycache__ (compile_python_runtime)
    for name in PYTHON_SDK:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            log.warning("%s is not installed: functions cannot import it", name)
            continue
        src = Path(spec.origin)
        src = src.parent if spec.submodule_search_locations else src
        dst = target / src.name
        if dst.is_dir():
            shutil.rmtree(dst)
        elif dst.exists():
            dst.unlink()
        if src.is_dir():
            shutil.copytree(src, dst, copy_function=_link_or_copy, ignore=shutil.ignore_patterns("__pycache__"))
            for root, dirs, _ in os.walk(dst):
                for d in dirs:
                    os.chmod(os.path.join(root, d), 0o755)
            os.chmod(dst, 0o755)
        else:
            _link_or_copy(str(src), str(dst))
    stamp.write_text(versions)
    os.chmod(stamp, 0o644)


def compile_python_runtime(runtime_dir: Path, interpreters: Sequence[str], timeout_s: float = 600) -> bool:
    """Byte-compile ``runtime_dir`` with each interpreter (see ``_COMPILE``), skipping those whose
    stamp says they compiled these very sources (SDK versions and runtime client files) already.
    Blocking; False if an interpreter failed (its stamp is not written: tried again next start)."""
    sources = (runtime_dir / SDK_STAMP).read_text() if (runtime_dir / SDK_STAMP).exists() else ""
    digest = hashlib.sha256(sources.encode())
    for f in sorted(runtime_dir.iterdir()):
        if f.is_file() and f.suffix == ".py":
            digest.update(f.name.encode() + b"\0" + f.read_bytes())
    want = digest.hexdigest()
    ok = True
    for exe in interpreters:
        stamp = runtime_dir / f".compiled-{Path(exe).name}"
        if stamp.exists() and stamp.read_text() == want:
            continue
        try:
            # -E -S: nothing of the host's environment or site-packages takes part.
            done = subprocess.run([exe, "-E", "-S", "-c", _COMPILE, str(os.getpid())], cwd=runtime_dir, capture_output=True,
                                  text=True, timeout=timeout_s)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("byte-compiling the Python runtime with %s failed: %s", exe, exc)
            ok = False
            continue
        if done.returncode != 0:
            log.warning("byte-compiling the Python runtime with %s failed: %s", exe, (done.stdout + done.stderr)[-2000:])
            ok = False
            continue
        tmp = stamp.with_name(stamp.name + ".tmp")
        tmp.write_text(want)
        os.chmod(tmp, 0o644)
        os.replace(tmp, stamp)
    return ok


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def _link_or_copy(src: str, dst: str) -> None:
    """A hard link when the source is world-readable and on the same file system, else a copy."""
    if os.stat(src).st_mode & 0o004:
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o644)


@cache
def _node_major(node_bin: str) -> int | None:
    if not os.access(node_bin, os.X_OK):
        return None
    try:
        out = subprocess.run([node_bin, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.match(r"v(\d+)\.", out.strip())
    return int(m.group(1)) if m else None
