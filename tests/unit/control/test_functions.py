"""FunctionService against a real SQLite store in a temp dir (no HTTP, no sandboxes)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from lambent.control.code import CodeStore
from lambent.control.codezip import ZipLimits
from lambent.control.functions import CreateFunctionInput, FunctionService
from lambent.control.model import State, UpdateStatus
from lambent.control.runtimes import RuntimeCatalog
from lambent.control.updates import ConfigUpdate
from lambent.errors import InvalidParameterValue, PreconditionFailed, ResourceConflict, ResourceNotFound
from lambent.settings import Settings
from lambent.store import Store

from lambent.arns import FunctionKey as _FunctionKey
from lambent.arns import function_key as _function_key

ACCOUNT_ID = "000000000000"


def K(name: str, account: str = ACCOUNT_ID) -> _FunctionKey:
    """The key of the test account's function ``name``."""
    return _function_key(account, name)



def zip_bytes(text: str = "def handler(e, c):\n    return 1\n") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", text)
    return buf.getvalue()


def service(tmp_path: Path) -> FunctionService:
    settings = Settings(data_dir=tmp_path)
    store = Store.open_in(tmp_path)
    return FunctionService(settings, store, CodeStore(tmp_path / "code", store, ZipLimits()), RuntimeCatalog())


def inp(name: str = "fn", **kw: object) -> CreateFunctionInput:
    base: dict[str, object] = dict(account_id="000000000000", name=name, runtime="python3.11", role="arn:aws:iam::000000000000:role/r", handler="app.handler", zip_file=zip_bytes())
    base.update(kw)
    return CreateFunctionInput(**base)  # type: ignore[arg-type]


async def test_create_goes_pending_then_active_and_persists(tmp_path: Path) -> None:
    svc = service(tmp_path)
    cfg = await svc.create(inp())
    assert cfg.state == State.PENDING
    await svc.wait_idle()
    assert svc.resolve(K("fn")).state == State.ACTIVE
    assert svc.resolve(K("fn")).last_update_status == UpdateStatus.SUCCESSFUL
    svc.store.close()
    again = service(tmp_path)
    assert again.resolve(K("fn")).code_sha256_b64 == cfg.code_sha256_b64
    assert (tmp_path / "code" / cfg.code_hash_hex / "app.py").exists()


async def test_same_code_is_stored_once(tmp_path: Path) -> None:
    svc = service(tmp_path)
    a = await svc.create(inp("a"))
    b = await svc.create(inp("b"))
    await svc.wait_idle()
    assert a.code_hash_hex == b.code_hash_hex
    assert len(list((tmp_path / "code").glob("*.zip"))) == 1
    await svc.delete(K("a"))
    assert (tmp_path / "code" / f"{a.code_hash_hex}.zip").exists()  # still used by b
    await svc.delete(K("b"))
    assert not (tmp_path / "code" / f"{a.code_hash_hex}.zip").exists()


async def test_conflicts_and_not_found(tmp_path: Path) -> None:
    svc = service(tmp_path)
    await svc.create(inp())
    with pytest.raises(ResourceConflict):
        await svc.create(inp())
    with pytest.raises(ResourceNotFound):
        svc.resolve(K("nope"))
    with pytest.raises(InvalidParameterValue, match="not supported by this lambent server"):
        await svc.create(inp("other", runtime="java21"))


async def test_update_while_in_progress_conflicts_and_revision_is_checked(tmp_path: Path) -> None:
    svc = service(tmp_path)
    await svc.create(inp())
    await svc.wait_idle()
    rev = svc.resolve(K("fn")).revision_id
    with pytest.raises(PreconditionFailed):
        await svc.update_configuration(K("fn"), ConfigUpdate(timeout_s=9), revision_id="stale")
    cfg = await svc.update_configuration(K("fn"), ConfigUpdate(timeout_s=9), revision_id=rev)
    assert cfg.last_update_status == UpdateStatus.IN_PROGRESS
    with pytest.raises(ResourceConflict, match="update is in progress"):
        await svc.update_configuration(K("fn"), ConfigUpdate(timeout_s=10))
    await svc.wait_idle()
    assert svc.resolve(K("fn")).timeout_s == 9


async def test_change_listeners_run_on_create_update_and_delete(tmp_path: Path) -> None:
    svc = service(tmp_path)
    seen: list[str] = []
    svc.on_change(seen.append)
    await svc.create(inp())
    await svc.wait_idle()
    await svc.update_code(K("fn"), zip_bytes("def handler(e, c):\n    return 2\n"))
    await svc.wait_idle()
    await svc.delete(K("fn"))
    assert seen == [K("fn"), K("fn"), K("fn")]  # listeners are told the key


async def test_reserved_concurrency_keeps_100_unreserved(tmp_path: Path) -> None:
    svc = service(tmp_path)
    await svc.create(inp())
    assert await svc.put_concurrency(K("fn"), 900) == 900
    with pytest.raises(InvalidParameterValue, match=r"minimum value of \[100\]"):
        await svc.put_concurrency(K("fn"), 901)
    assert svc.total_reserved(ACCOUNT_ID) == 900 and svc.total_reserved("111111111111") == 0


async def test_set_revision_gives_latest_a_new_revision_that_persists_and_keeps_its_environment_key(
        tmp_path: Path) -> None:
    svc = service(tmp_path)
    await svc.create(inp())
    await svc.wait_idle()
    before = svc.resolve(K("fn"))
    async with svc.locked(K("fn")) as fn:
        await svc.set_revision(fn, None, "rev-perm-1")
    async with svc.locked(K("fn")) as fn:
        await svc.set_revision(fn, None, "rev-perm-2")
        assert svc.revision_of(fn, None) == "rev-perm-2"
    after = svc.resolve(K("fn"))
    assert after.revision_id == "rev-perm-2"
    assert after.environment_revision == before.revision_id == before.environment_revision
    # a real change afterwards: a new RevisionId and a new environment key
    updated = await svc.update_configuration(K("fn"), ConfigUpdate(description="x"), revision_id="rev-perm-2")
    assert updated.environment_revision == updated.revision_id != before.revision_id
    await svc.wait_idle()
    svc.store.close()
    again = service(tmp_path)
    assert again.resolve(K("fn")).environment_revision == again.resolve(K("fn")).revision_id


async def test_revision_of_an_unknown_qualifier_is_not_found(tmp_path: Path) -> None:
    svc = service(tmp_path)
    await svc.create(inp())
    await svc.wait_idle()
    async with svc.locked(K("fn")) as fn:
        with pytest.raises(ResourceNotFound, match="function:fn:7"):
            svc.revision_of(fn, "7")
        with pytest.raises(ResourceNotFound):
            await svc.set_revision(fn, "7", "x")
