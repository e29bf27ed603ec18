"""The runtime catalogue starts bootstraps that exist, the way the sandbox will see them."""

from __future__ import annotations

from pathlib import Path

from lambent.control.runtimes import RUNTIMES_DIR, RuntimeCatalog, install_runtime_clients


def test_every_managed_runtime_starts_an_existing_bootstrap(tmp_path: Path) -> None:
    installed = install_runtime_clients(tmp_path / "rt")
    catalog = RuntimeCatalog(runtimes_dir=installed)
    assert "python3.11" in catalog.names and "provided.al2023" in catalog.names
    for name in catalog.names:
        launch = catalog.launch(name)
        if launch.runtime_dir is None:
            assert launch.argv == ("/var/task/bootstrap",)
            continue
        script = launch.argv[-1]
        assert script.startswith("/var/runtime/")
        assert (launch.runtime_dir / script.removeprefix("/var/runtime/")).is_file()
        assert (launch.runtime_dir / script.removeprefix("/var/runtime/")).read_bytes() == (
            RUNTIMES_DIR / launch.runtime_dir.name / script.removeprefix("/var/runtime/")
        ).read_bytes()


def test_python_runtime_starts_without_site_packages() -> None:
    launch = RuntimeCatalog().launch("python3.11")
    assert launch.argv[1:3] == ("-S", "-u")
    assert ("PYTHONPATH", "/var/runtime") in launch.extra_env
