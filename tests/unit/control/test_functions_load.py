"""FunctionService's constructor does no I/O; load() reads the registry (real SQLite store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambent.control.aliases import AliasService
from lambent.control.code import CodeStore
from lambent.control.codezip import ZipLimits
from lambent.control.functions import FunctionService
from lambent.control.runtimes import RuntimeCatalog
from lambent.control.versions import VersionService
from lambent.errors import ResourceNotFound
from lambent.settings import Settings
from lambent.store import Store
from tests.unit.control.test_functions import inp, service

from lambent.arns import FunctionKey as _FunctionKey
from lambent.arns import function_key as _function_key

ACCOUNT_ID = "000000000000"


def K(name: str, account: str = ACCOUNT_ID) -> _FunctionKey:
    """The key of the test account's function ``name``."""
    return _function_key(account, name)



class _NoIO:
    """A store that fails the test on any use."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the constructor used the store ({name})")


def test_the_constructor_does_no_io(tmp_path: Path) -> None:
    store = Store.open_in(tmp_path)
    svc = FunctionService(Settings(data_dir=tmp_path), _NoIO(), CodeStore(tmp_path / "code", store, ZipLimits()),  # type: ignore[arg-type]
                          RuntimeCatalog(), load=False)
    assert svc.entries("000000000000") == []


async def test_a_change_before_load_is_refused(tmp_path: Path) -> None:
    store = Store.open_in(tmp_path)
    svc = FunctionService(Settings(data_dir=tmp_path), store, CodeStore(tmp_path / "code", store, ZipLimits()),
                          RuntimeCatalog(), load=False)
    with pytest.raises(RuntimeError, match="before load"):
        await svc.create(inp())
    await svc.load()
    assert (await svc.create(inp())).name == "fn"


async def test_load_reads_functions_versions_and_aliases_once(tmp_path: Path) -> None:
    # Given a function with a version and an alias, written by a previous "server"
    first = service(tmp_path)
    await first.create(inp())
    await first.wait_idle()
    await VersionService(first).publish(K("fn"))
    await AliasService(first).create(K("fn"), "live", "1")
    first.store.close()
    # When a new one is built without loading, then loaded
    store = Store.open_in(tmp_path)
    svc = FunctionService(Settings(data_dir=tmp_path), store, CodeStore(tmp_path / "code", store, ZipLimits()),
                          RuntimeCatalog(), load=False)
    with pytest.raises(ResourceNotFound):
        svc.resolve(K("fn"))
    await svc.load()
    # Then everything is there, and a second load changes nothing
    assert svc.resolve(K("fn"), "live").version == "1"
    entry = svc.entry(K("fn"))
    await svc.load()
    assert svc.entry(K("fn")) is entry
