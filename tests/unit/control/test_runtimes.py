"""The installed Python runtime dir is byte-compiled by the runtime's own interpreter, once per
set of sources, in a way the read-only sandbox can use (hash-based .pyc files)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lambent.control.runtimes import RuntimeCatalog, compile_python_runtime, install_runtime_clients

PYTHON = "/usr/bin/python3.11"
pytestmark = pytest.mark.skipif(not os.access(PYTHON, os.X_OK), reason="needs the runtime interpreter python3.11")


def pyc_flags(path: Path) -> int:
    # PEP 552: the 32-bit flags word after the magic; bit 0 = hash-based, bit 1 = check_source.
    return int.from_bytes(path.read_bytes()[4:8], "little")


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    return install_runtime_clients(tmp_path / "rt") / "python"


def test_compile_writes_hash_based_pycs_for_the_sdk_and_the_bootstrap(installed: Path) -> None:
    # When the installed runtime dir is compiled with the runtime's interpreter
    assert compile_python_runtime(installed, [PYTHON])
    # Then the SDK's .pyc files do not depend on the hard-linked sources' mtimes (unchecked hash)
    botocore_pyc = installed / "botocore" / "__pycache__" / "__init__.cpython-311.pyc"
    assert pyc_flags(botocore_pyc) == 0b01
    assert (installed / "boto3" / "__pycache__" / "session.cpython-311.pyc").is_file()
    # and our bootstrap's is checked against its source, which is rewritten in place on upgrades
    assert pyc_flags(installed / "__pycache__" / "bootstrap.cpython-311.pyc") == 0b11
    # and everything is readable by the sandbox's unprivileged uid
    assert botocore_pyc.stat().st_mode & 0o004 and (botocore_pyc.parent.stat().st_mode & 0o005) == 0o005
    # and tracebacks name the files as the sandbox sees them
    out = subprocess.run(
        [PYTHON, "-E", "-S", "-c", "import marshal,sys; c=marshal.loads(open(sys.argv[1],'rb').read()[16:]); print(c.co_filename)",
         str(botocore_pyc)], capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert out == "/var/runtime/botocore/__init__.py"


def test_compile_runs_once_per_set_of_sources(installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert compile_python_runtime(installed, [PYTHON])
    stamp = installed / ".compiled-python3.11"
    assert stamp.is_file()
    # Given an unchanged dir, a second compile does not run the interpreter at all
    calls: list[Any] = []
    real_run = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a) or real_run(*a, **k))
    assert compile_python_runtime(installed, [PYTHON])
    assert calls == []
    # When the runtime client changes (an upgrade rewrites bootstrap.py), it compiles again
    (installed / "bootstrap.py").write_text((installed / "bootstrap.py").read_text() + "\n# upgraded\n")
    assert compile_python_runtime(installed, [PYTHON])
    assert len(calls) == 1
    assert stamp.read_text() != ""


def test_a_failed_compile_writes_no_stamp(installed: Path) -> None:
    # Given an interpreter that fails
    assert not compile_python_runtime(installed, ["/bin/false"])
    assert not (installed / ".compiled-false").exists()


def test_refreshed_sdk_versions_drop_the_old_pycs(installed: Path) -> None:
    assert compile_python_runtime(installed, [PYTHON])
    # When the SDK's versions change, install re-links the packages without their __pycache__
    (installed / ".sdk-versions").write_text("boto3==0.0.0\n")
    install_runtime_clients(installed.parent)
    assert not (installed / "botocore" / "__pycache__").exists()
    # and the next compile (a different stamp) makes them again
    assert compile_python_runtime(installed, [PYTHON])
    assert (installed / "botocore" / "__pycache__" / "__init__.cpython-311.pyc").is_file()


def test_the_catalogue_compiles_only_an_installed_dir(tmp_path: Path, installed: Path) -> None:
    # The source tree (no SDK stamp) is never written to
    assert RuntimeCatalog(python_bin=PYTHON).compile_python() is None
    # An installed one is compiled in the background
    thread = RuntimeCatalog(python_bin=PYTHON, runtimes_dir=installed.parent).compile_python()
    assert thread is not None
    thread.join(120)
    assert (installed / ".compiled-python3.11").is_file()


def test_the_python_runtime_imports_its_bootstrap_not_the_functions(tmp_path: Path, installed: Path) -> None:
    # Given a function package with its own bootstrap.py in the working directory
    task = tmp_path / "task"
    task.mkdir()
    (task / "bootstrap.py").write_text("raise SystemExit('the function bootstrap ran')\n")
    launch = RuntimeCatalog(python_bin=PYTHON).launch("python3.11")
    # When the launch command starts (no Runtime API: our bootstrap fails on the missing variable)
    argv = list(launch.argv)
    done = subprocess.run(argv, cwd=task, env={"PYTHONPATH": str(installed)}, capture_output=True, text=True, timeout=30)
    # Then it was ours that ran, with sys.argv as for the script
    assert "the function bootstrap ran" not in done.stderr
    assert "AWS_LAMBDA_RUNTIME_API" in done.stderr
    shutil.rmtree(task)


def fake_node(tmp_path: Path, version: str) -> str:
    node = tmp_path / f"node-{version}"
    node.write_text(f"#!/bin/sh\necho {version}\n")
    node.chmod(0o755)
    return str(node)


@pytest.mark.parametrize(("version", "runtime"), [("v18.19.0", "nodejs18.x"), ("v20.20.2", "nodejs20.x"), ("v22.1.0", "nodejs22.x")])
def test_the_one_nodejs_runtime_served_is_the_hosts_major(tmp_path: Path, version: str, runtime: str) -> None:
    # Given a host whose node reports this version
    catalog = RuntimeCatalog(python_bin=PYTHON, node_bin=fake_node(tmp_path, version))
    # Then exactly the matching nodejsNN.x is served; the others are not
    assert [n for n in catalog.names if n.startswith("nodejs")] == [runtime]
    assert catalog.launch(runtime).argv[0] == str(tmp_path / f"node-{version}")


def test_no_node_no_nodejs_runtime(tmp_path: Path) -> None:
    catalog = RuntimeCatalog(python_bin=PYTHON, node_bin=str(tmp_path / "missing-node"))
    assert not [n for n in catalog.names if n.startswith("nodejs")]
    assert "python3.11" in catalog.names and "provided.al2023" in catalog.names
