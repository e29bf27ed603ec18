"""CodeStore.hold: an environment's pin keeps a released package's tree until it lets go."""

from __future__ import annotations

import io
import threading
import zipfile
from pathlib import Path

from lambent.control.code import CodeStore
from lambent.control.codezip import ZipLimits
from lambent.store import Store


def package(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", text)
    return buf.getvalue()


def make_store(tmp_path: Path) -> CodeStore:
    return CodeStore(tmp_path / "code", Store.open_in(tmp_path), ZipLimits(), unpack_root=tmp_path / "unpacked")


def test_a_held_tree_outlives_its_release_and_goes_with_the_last_holder(tmp_path: Path) -> None:
    code = make_store(tmp_path)
    info = code.put(package("x = 1\n"))
    code.unpin(info.sha256_hex)  # no version refers to it: only the environment's hold keeps it
    tree = code.code_dir(info.sha256_hex)
    # Given an environment holding the tree
    assert code.hold(info.sha256_hex) is True
    # When the package is released (an update or delete of the only function using it)
    code.release(info.sha256_hex)
    # Then its files are still there for the running environment
    assert (tree / "app.py").read_text() == "x = 1\n"
    # When the environment lets go (unpin, then release), the package is deleted
    code.unpin(info.sha256_hex)
    code.release(info.sha256_hex)
    assert not tree.exists() and not code.zip_path(info.sha256_hex).exists()


def test_a_tree_already_gone_cannot_be_held(tmp_path: Path) -> None:
    code = make_store(tmp_path)
    info = code.put(package("x = 2\n"))
    code.unpin(info.sha256_hex)
    code.release(info.sha256_hex)
    assert code.hold(info.sha256_hex) is False
    assert code.hold(info.sha256_hex, blocking=False) is False


def test_a_non_blocking_hold_answers_none_while_the_lock_is_taken(tmp_path: Path) -> None:
    code = make_store(tmp_path)
    info = code.put(package("x = 3\n"))
    taken, done = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with code._lock:  # as an unpack in a worker thread does
            taken.set()
            done.wait(5)

    t = threading.Thread(target=hold_the_lock)
    t.start()
    try:
        assert taken.wait(5)
        assert code.hold(info.sha256_hex, blocking=False) is None
    finally:
        done.set()
        t.join()
    assert code.hold(info.sha256_hex, blocking=False) is True
