"""Hostile deployment packages against the real server (issue 8, break 1 and break 7's code/*.tmp).

The server unpacks code as root: a zip whose links, already created, are followed by the rest of
its extraction wrote anywhere on the host. Every test here aims at a directory of its own under
/tmp and checks, after the refusal, that nothing appeared there and that no host directory's
mode changed.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import ROLE, Server, create_function, invoke_json, unique

#: s -> . makes s/s/…/s the package root itself, so l, lexically ten levels deep, is at the root
#: and its ten `..` climb to the host's / (the unpack dir is /var/tmp/lambent-test-*/code/<sha>.partial).
CHAIN = "s/" * 10
HANDLER = "def handler(e, c):\n    return 'ok'\n"


def archive(entries: list[tuple[str, str, str]]) -> bytes:
    """Members in this order: (name, "file" | "link", content); links carry their target."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, kind, content in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = ((0o120777 if kind == "link" else 0o100755 if name == "tools/run" else 0o100644) << 16)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return buf.getvalue()


def chain_to(host_file: Path) -> bytes:
    """The adversary's archive: a file written through l (really /) to ``host_file``."""
    return archive([
        ("app.py", "file", HANDLER),
        ("s", "link", "."),
        (CHAIN + "l", "link", "../" * 10),
        (f"{CHAIN}l{host_file}", "file", "pwned"),
    ])


CHAIN_REFUSAL = f"Zip file rejected: entry '{CHAIN}l' is inside symbolic link 's'."


@pytest.fixture
def host_target() -> Iterator[Path]:
    d = Path(f"/tmp/lambent-zip-test-{uuid.uuid4().hex}")
    d.mkdir(mode=0o700)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def host_modes(server: Server, host_target: Path) -> dict[str, int]:
    """Modes of the host directories a chmod through a link could reach."""
    paths = [Path("/"), Path("/tmp"), Path("/var"), Path("/var/tmp"), host_target,
             server.sandbox_dir(), server.sandbox_dir() / "code"]
    return {str(p): p.lstat().st_mode for p in paths}


def refused(call: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as exc:
        call()
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


def test_link_chain_to_host_root_is_refused_by_create_function(server: Server, lam: Any, host_target: Path) -> None:
    # Given the adversary's archive aimed at a file in a host directory
    before = host_modes(server, host_target)
    pwned = host_target / "x" / "pwned.txt"
    # When CreateFunction is called with it
    got = refused(lambda: lam.create_function(
        FunctionName=unique(), Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": chain_to(pwned)},
    ))
    # Then it is refused as AWS refuses bad zips, and nothing was written or chmodded on the host
    assert got == ("InvalidParameterValueException", 400, CHAIN_REFUSAL)
    assert not pwned.exists() and list(host_target.iterdir()) == []
    assert host_modes(server, host_target) == before


def test_link_chain_to_host_root_is_refused_by_update_function_code(server: Server, lam: Any, host_target: Path) -> None:
    # Given a working function
    name = create_function(lam, {"app.py": HANDLER})
    sha = lam.get_function(FunctionName=name)["Configuration"]["CodeSha256"]
    before = host_modes(server, host_target)
    pwned = host_target / "pwned.txt"
    # When its code is updated with the adversary's archive
    got = refused(lambda: lam.update_function_code(FunctionName=name, ZipFile=chain_to(pwned)))
    # Then the update is refused, nothing reached the host, and the function keeps its code and runs
    assert got == ("InvalidParameterValueException", 400, CHAIN_REFUSAL)
    assert not pwned.exists() and list(host_target.iterdir()) == []
    assert host_modes(server, host_target) == before
    cfg = lam.get_function(FunctionName=name)["Configuration"]
    assert (cfg["CodeSha256"], cfg["LastUpdateStatus"]) == (sha, "Successful")
    assert invoke_json(lam, name)[1] == "ok"


def test_link_through_links_to_a_host_directory_is_refused(server: Server, lam: Any, host_target: Path) -> None:
    # Given a link lexically inside the package that, through s -> ., names a host directory
    # (the old unpacker's chmod walk followed it and made the directory 0755)
    target = CHAIN + "../" * 10 + str(host_target).lstrip("/")
    data = archive([("app.py", "file", HANDLER), ("s", "link", "."), ("m", "link", target)])
    before = host_modes(server, host_target)
    name = create_function(lam, {"app.py": HANDLER})
    for call in (
        lambda: lam.create_function(FunctionName=unique(), Runtime="python3.11", Role=ROLE,
                                    Handler="app.handler", Code={"ZipFile": data}),
        lambda: lam.update_function_code(FunctionName=name, ZipFile=data),
    ):
        got = refused(call)
        assert got == ("InvalidParameterValueException", 400,
                       f"Zip file rejected: symbolic link 'm' points outside the package ({target}).")
    assert stat.S_IMODE(host_target.stat().st_mode) == 0o700
    assert host_modes(server, host_target) == before


def test_links_inside_the_package_still_work(lam: Any) -> None:
    # Given a package with the links real ones carry, and an executable reached through one
    data = archive([
        ("app.py", "file",
         "import os\n"
         "def handler(e, c):\n"
         "    lib = open('/var/task/lib/libfoo.so').read()\n"
         "    run = os.stat('/var/task/bin/run').st_mode & 0o777\n"
         "    return [lib, oct(run), os.readlink('/var/task/bin')]\n"),
        ("lib/libfoo.so.1", "file", "ELF-1"),
        ("lib/libfoo.so", "link", "libfoo.so.1"),
        ("tools/run", "file", "#!/bin/sh\necho hi\n"),
        ("bin", "link", "./tools"),
    ])
    name = unique()
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": data})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    # When it runs, Then it reads through its links and the executable kept its x bit
    assert invoke_json(lam, name)[1] == ["ELF-1", "0o755", "./tools"]


def test_a_start_removes_unfinished_uploads(fresh_server: Any) -> None:
    # Given a server whose predecessor crashed mid-upload (a half-written zip, a half-unpacked tree)
    srv: Server = fresh_server()
    srv.stop()
    stale_zip = srv.data_dir / "code" / f"{'ab' * 32}.tmp"
    stale_zip.write_bytes(b"PK half a zip")
    stale_tree = srv.sandbox_dir() / "code" / f"{'cd' * 32}.partial"
    (stale_tree / "pkg").mkdir(parents=True)
    (stale_tree / "pkg" / "m.py").write_text("half")
    # When it starts again
    srv.start()
    # Then both are gone, and the server works
    assert not stale_zip.exists() and not stale_tree.exists()
    lam = srv.client()
    assert invoke_json(lam, create_function(lam, {"app.py": HANDLER}))[1] == "ok"
    assert sorted(p.suffix for p in (srv.data_dir / "code").iterdir()) == [".zip"]
    assert not [p for p in os.listdir(srv.sandbox_dir() / "code") if p.endswith(".partial")]
