"""The registry's one write rule, against a real SQLite store: store first, then memory, with the
function's lock held, through the current entry."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lambent import arns
from lambent.control.model import Alias, FunctionConfig
from lambent.control.registry import FunctionEntry, Registry
from lambent.store import Store
from lambent.store.errors import ConstraintViolation

from lambent.arns import FunctionKey as _FunctionKey
from lambent.arns import function_key as _function_key

ACCOUNT_ID = "000000000000"


def K(name: str, account: str = ACCOUNT_ID) -> _FunctionKey:
    """The key of the test account's function ``name``."""
    return _function_key(account, name)



def config(name: str = "fn", version: str = arns.LATEST, revision: str = "r1") -> FunctionConfig:
    return FunctionConfig(account_id="000000000000", name=name, runtime="python3.11", role="arn:aws:iam::000000000000:role/r", handler="app.handler",
                          code_hash_hex="ab" * 32, code_sha256_b64="x", code_size=1, last_modified="now",
                          revision_id=revision, version=version)


def entry(name: str = "fn") -> FunctionEntry:
    return FunctionEntry(K(name), 1.0, {"team": "a"}, None, {arns.LATEST: config(name)})


async def created(tmp_path: Path) -> tuple[Store, Registry, FunctionEntry]:
    store = Store.open_in(tmp_path)
    registry = Registry(store)
    fn = entry()
    async with registry.hold(K("fn")):
        assert await registry.create(fn)
    return store, registry, fn


async def test_every_write_reaches_the_store_and_a_new_registry_reads_it_back(tmp_path: Path) -> None:
    store, registry, fn = await created(tmp_path)
    async with registry.hold(K("fn")):
        await registry.put_latest(fn, config(revision="r2"))
        await registry.add_version(fn, config(version="1", revision="v1"))
        await registry.add_version(fn, config(version="2", revision="v2"))
        await registry.replace_version(fn, config(version="1", revision="v1b"))  # AddPermission's new RevisionId
        await registry.put_alias(fn, Alias("fn", "live", "1", "a1"))
        await registry.put_alias(fn, Alias("fn", "old", "2", "a2"))
        assert await registry.delete_alias(fn, "old")
        assert not await registry.delete_alias(fn, "never")
        assert (await registry.delete_version(fn, "2")) is not None
        assert await registry.delete_version(fn, "9") is None
        await registry.set_tags(fn, {"team": "b"})
        await registry.set_reserved_concurrency(fn, 3)
    again = Registry(store)
    again.adopt(again.read())
    got = again.get(K("fn"))
    assert got is not None
    assert got.latest.revision_id == "r2"
    assert sorted(got.versions) == ["$LATEST", "1"] and got.last_version == 2  # numbers are never reused
    assert got.versions["1"].revision_id == "v1b"
    assert list(got.aliases) == ["live"] and got.aliases["live"].function_version == "1"
    assert (got.tags, got.reserved_concurrency) == ({"team": "b"}, 3)
    # memory says the same as the store
    assert (sorted(fn.versions), list(fn.aliases), fn.tags, fn.reserved_concurrency) == (
        sorted(got.versions), list(got.aliases), got.tags, got.reserved_concurrency)
    async with again.hold(K("fn")):
        await again.delete(got)
    assert again.get(K("fn")) is None
    fresh = Registry(store)
    assert fresh.read() == {}


async def test_a_write_without_the_lock_or_through_a_replaced_entry_is_refused(tmp_path: Path) -> None:
    _, registry, fn = await created(tmp_path)
    with pytest.raises(RuntimeError, match="without its lock"):
        await registry.put_latest(fn, config(revision="r2"))
    async with registry.hold(K("fn")):
        await registry.delete(fn)
        assert await registry.create(entry())  # deleted and re-created meanwhile
    async with registry.hold(K("fn")):
        with pytest.raises(RuntimeError, match="replaced entry"):
            await registry.put_alias(fn, Alias("fn", "live", "$LATEST", "a"))
    assert registry.get(K("fn")) is not fn and registry.get(K("fn")).aliases == {}  # type: ignore[union-attr]
    with pytest.raises(RuntimeError, match="without its lock"):
        await registry.create(entry("other"))


async def test_a_refused_store_write_leaves_memory_as_it_was(tmp_path: Path) -> None:
    store, registry, fn = await created(tmp_path)
    # Given version 1 already in the store behind the registry's back
    store.add_version(K("fn"), 1, config(version="1").to_json())
    # When the registry publishes its version 1, the store refuses it (primary key)
    async with registry.hold(K("fn")):
        with pytest.raises(ConstraintViolation):
            await registry.add_version(fn, config(version="1", revision="mine"))
    # Then memory shows nothing of it
    assert sorted(fn.versions) == ["$LATEST"] and fn.last_version == 0


async def test_only_the_next_number_and_the_entrys_own_values_are_written(tmp_path: Path) -> None:
    _, registry, fn = await created(tmp_path)
    async with registry.hold(K("fn")):
        with pytest.raises(ValueError, match="next version"):
            await registry.add_version(fn, config(version="2"))
        with pytest.raises(ValueError, match="LATEST"):
            await registry.put_latest(fn, config(name="other"))
        with pytest.raises(ValueError, match="belongs to"):
            await registry.put_alias(fn, Alias("other", "live", "1", "a"))
        with pytest.raises(ValueError, match="only with its function"):
            await registry.delete_version(fn, arns.LATEST)


async def test_the_lock_serialises_and_names_merely_tried_leave_no_lock(tmp_path: Path) -> None:
    _, registry, _ = await created(tmp_path)
    order: list[str] = []
    inside = asyncio.Event()

    async def first() -> None:
        async with registry.hold(K("fn")):
            order.append("first in")
            inside.set()
            await asyncio.sleep(0)
            order.append("first out")

    async def second() -> None:
        await inside.wait()
        async with registry.hold(K("fn")):
            order.append("second in")

    await asyncio.gather(first(), second())
    assert order == ["first in", "first out", "second in"]
    kept = registry.locks_kept  # the existing function's
    for i in range(100):
        async with registry.hold(f"tried-{i}"):
            pass
    assert registry.locks_kept == kept
