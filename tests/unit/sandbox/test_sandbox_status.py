"""bwrap's JSON status stream and the mapping of its exit codes to ExitStatus."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from lambent.sandbox import ExitStatus, SandboxError
from lambent.sandbox._status import StatusReader, exit_status_from_returncode, split_documents


def test_split_documents_keeps_the_unterminated_rest() -> None:
    docs, rest = split_documents(b'{ "child-pid": 42, "net-namespace": 4026532183 }\n{ "exit')
    assert docs == [{"child-pid": 42, "net-namespace": 4026532183}]
    assert rest == b'{ "exit'


def test_split_documents_skips_garbage_and_blank_lines() -> None:
    docs, rest = split_documents(b'\nnot json\n[1]\n{ "exit-code": 3 }\n')
    assert docs == [{"exit-code": 3}]
    assert rest == b""


@pytest.mark.parametrize(
    ("returncode", "expected"),
    [
        (0, ExitStatus(exit_code=0, signal=None, oom_killed=False)),
        (1, ExitStatus(exit_code=1, signal=None, oom_killed=False)),
        (128, ExitStatus(exit_code=128, signal=None, oom_killed=False)),
        # bwrap reports a child killed by signal S as 128 + S
        (137, ExitStatus(exit_code=None, signal=signal.SIGKILL, oom_killed=False)),
        (143, ExitStatus(exit_code=None, signal=signal.SIGTERM, oom_killed=False)),
        # asyncio reports bwrap itself killed by a signal as a negative code
        (-9, ExitStatus(exit_code=None, signal=9, oom_killed=False)),
        (255, ExitStatus(exit_code=255, signal=None, oom_killed=False)),
    ],
)
def test_exit_status_mapping(returncode: int, expected: ExitStatus) -> None:
    assert exit_status_from_returncode(returncode, oom_killed=False) == expected


def test_oom_flag_is_carried() -> None:
    status = exit_status_from_returncode(137, oom_killed=True)
    assert status.signal == 9 and status.oom_killed


async def test_reader_resolves_child_pid_from_split_writes() -> None:
    r, w = os.pipe()
    reader = StatusReader(r, asyncio.get_running_loop())
    try:
        os.write(w, b'{ "child-pid": 12')
        await asyncio.sleep(0.01)
        os.write(w, b'34, "pid-namespace": 1 }\n')
        assert await asyncio.wait_for(reader.child_pid(), 1) == 1234
        assert reader.reported_pid == 1234
    finally:
        reader.close()
        os.close(w)


async def test_reader_fails_when_bwrap_exits_first() -> None:
    r, w = os.pipe()
    reader = StatusReader(r, asyncio.get_running_loop())
    os.write(w, b"bwrap: cannot\n")
    os.close(w)
    with pytest.raises(SandboxError, match="before reporting"):
        await asyncio.wait_for(reader.child_pid(), 1)
    assert reader.reported_pid is None
    reader.close()
    reader.close()  # idempotent


async def test_close_drains_a_pid_reported_but_not_yet_read() -> None:
    r, w = os.pipe()
    reader = StatusReader(r, asyncio.get_running_loop())
    os.write(w, b'{ "child-pid": 77 }\n')
    reader.close()  # before the loop ran the reader callback
    os.close(w)
    assert reader.reported_pid == 77
