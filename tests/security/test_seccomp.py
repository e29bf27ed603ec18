"""The syscall filter, the descriptor limit and /bin/sh of every sandbox, seen from a function.

Threat: function code reaches kernel interfaces an unprivileged Lambda function never needs and
that have a history of exploits (keyrings, io_uring, userfaultfd, bpf, perf, ptrace, the mount
API, NUMA policy, foreign syscall ABIs that a filter written for x86_64 would not cover); and a
function may hold ~20,000 descriptors (the server's limit, inherited) where Lambda allows 1024.
Compatibility: AWS's own custom-runtime tutorial bootstrap (``#!/bin/sh`` + ``set -euo
pipefail``) must run, as on Amazon Linux 2023 where /bin/sh is bash.

Each probe uses arguments for which the unfiltered kernel answers something else (success, or
EFAULT/EBADF/EINVAL/ENOSPC...), so every assertion fails on a sandbox without the filter.
"""

from __future__ import annotations

import platform
from typing import Any

from harness import create_function, invoke_json

# The in-sandbox probe: raw syscalls through ctypes (x86_64 numbers, asm/unistd_64.h).
PROBE = r'''
import ctypes, errno, mmap, os, resource, signal, socket, threading

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR = {"keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321, "perf_event_open": 298,
      "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
      "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
      "unshare": 272, "setns": 308, "clone": 56, "clone3": 435, "personality": 135,
      "get_mempolicy": 239, "set_mempolicy": 238, "mbind": 237, "move_pages": 279,
      "name_to_handle_at": 303, "open_by_handle_at": 304, "mount": 165, "umount2": 166,
      "pivot_root": 155, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
      "move_mount": 429, "open_tree": 428, "mount_setattr": 442, "acct": 163,
      "clock_settime": 227, "clock_adjtime": 305, "settimeofday": 164, "reboot": 169,
      "swapon": 167, "swapoff": 168, "quotactl": 179, "quotactl_fd": 443, "init_module": 175,
      "finit_module": 313, "delete_module": 176, "kexec_load": 246, "kexec_file_load": 320,
      "lookup_dcookie": 212, "nfsservctl": 180, "ioperm": 173, "iopl": 172, "syslog": 103,
      "uselib": 134, "ustat": 136, "sysfs": 139, "_sysctl": 156, "get_kernel_syms": 177,
      "create_module": 174, "query_module": 178, "vhangup": 153, "pidfd_getfd": 438,
      "fanotify_init": 300, "set_mempolicy_home_node": 450}
ADDR_NO_RANDOMIZE = 0x0040000
CLONE_NEWUSER = 0x10000000
PID = os.getpid()
PROBES = [
    ("keyctl", (0, -3, 0)), ("add_key", (0, 0, 0, 0, -2)), ("request_key", (0, 0, 0, 0)),
    ("bpf", (0, 0, 0)), ("perf_event_open", (0, 0, -1, -1, 0)), ("ptrace", (3, 2**22 + 7, 0, 0)),
    ("process_vm_readv", (PID, 0, 1, 0, 1, 0)), ("process_vm_writev", (PID, 0, 1, 0, 1, 0)),
    ("kcmp", (PID, PID, 0, 0, 0)), ("userfaultfd", (os.O_CLOEXEC | 1,)),
    ("io_uring_setup", (1, 0)), ("io_uring_enter", (-1, 0, 0, 0, 0, 0)),
    ("io_uring_register", (-1, 0, 0, 0)), ("unshare", (CLONE_NEWUSER,)), ("setns", (-1, 0)),
    ("clone", (CLONE_NEWUSER | signal.SIGCHLD, 0, 0, 0, 0)), ("clone3", (0, 0)),
    ("personality", (ADDR_NO_RANDOMIZE,)), ("get_mempolicy", (0, 0, 0, 0, 0)),
    ("set_mempolicy", (0, 0, 0)), ("mbind", (0, 0, 0, 0, 0, 0)), ("move_pages", (0, 0, 0, 0, 0, 0)),
    ("name_to_handle_at", (-100, 0, 0, 0, 0)), ("open_by_handle_at", (-1, 0, 0)),
    ("mount", (0, 0, 0, 0, 0)), ("umount2", (0, 0)), ("pivot_root", (0, 0)), ("fsopen", (0, 0)),
    ("fsconfig", (-1, 0, 0, 0, 0)), ("fsmount", (-1, 0, 0)), ("fspick", (-1, 0, 0)),
    ("move_mount", (-1, 0, -1, 0, 0)), ("open_tree", (-1, 0, 0)), ("mount_setattr", (-1, 0, 0, 0, 0)),
    ("acct", (0,)), ("clock_settime", (0, 0)), ("clock_adjtime", (0, 0)), ("settimeofday", (0, 0)),
    ("reboot", (0, 0, 0, 0)), ("swapon", (0, 0)), ("swapoff", (0,)), ("quotactl", (0, 0, 0, 0)),
    ("quotactl_fd", (-1, 0, 0, 0)), ("init_module", (0, 0, 0)), ("finit_module", (-1, 0, 0)),
    ("delete_module", (0, 0)), ("kexec_load", (0, 0, 0, 0)), ("kexec_file_load", (-1, -1, 0, 0, 0)),
    ("lookup_dcookie", (0, 0, 0)), ("nfsservctl", (0, 0, 0)), ("ioperm", (0, 0, 0)), ("iopl", (0,)),
    ("syslog", (10, 0, 0)), ("uselib", (0,)), ("ustat", (0, 0)), ("sysfs", (3,)), ("_sysctl", (0,)),
    ("get_kernel_syms", (0,)), ("create_module", (0, 0)), ("query_module", (0, 0, 0, 0, 0)),
    ("vhangup", ()), ("pidfd_getfd", (-1, 0, 0)), ("fanotify_init", (0, 0)),
    ("set_mempolicy_home_node", (0, 0, 0, 0)),
]


def call(name, args):
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(NR[name]), *[ctypes.c_long(a) for a in args])
    if rc == 0 and name == "clone":
        os._exit(0)  # the child of an unfiltered clone leaves at once
    return "ok" if rc >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")


def machine_code(code):
    """Run x86 machine code in a forked child; how the child ended."""
    pid = os.fork()
    if pid == 0:
        buf = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        buf.write(code)
        ctypes.CFUNCTYPE(ctypes.c_long)(ctypes.addressof(ctypes.c_char.from_buffer(buf)))()
        os._exit(0)
    status = os.waitpid(pid, 0)[1]
    return f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}"


def handler(event, context):
    out = {name: call(name, args) for name, args in PROBES}
    if out["personality"] == "ok":
        call("personality", (0,))
    out["personality(0xffffffff)"] = call("personality", (0xFFFFFFFF,))
    out["personality(PER_LINUX32)"] = call("personality", (8,))
    out["personality(PER_LINUX)"] = call("personality", (0,))
    # Ordinary work goes on: a thread (glibc's clone3 gets ENOSYS and falls back to clone), a
    # fork, a socket pair.
    seen = []
    worker = threading.Thread(target=seen.append, args=("thread",))
    worker.start()
    worker.join()
    out["thread"] = seen[0]
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    out["fork"] = os.WEXITSTATUS(os.waitpid(pid, 0)[1])
    a, b = socket.socketpair()
    a.send(b"x")
    out["socketpair"] = b.recv(1).decode()
    a.close()
    b.close()
    # i386 getpid through int 0x80 (mov eax, 20; int 0x80; ret) and x32 getpid (mov eax,
    # 0x40000027; syscall; ret): other syscall tables, killed with SIGSYS.
    out["i386 int 0x80"] = machine_code(bytes.fromhex("b814000000cd80c3"))
    out["x32 syscall"] = machine_code(bytes.fromhex("b8270000400f05c3"))
    return out
'''

DENIED_EPERM = [
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "ptrace", "process_vm_readv",
    "process_vm_writev", "kcmp", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "unshare", "setns", "clone", "personality", "get_mempolicy",
    "set_mempolicy", "mbind", "move_pages", "name_to_handle_at", "open_by_handle_at", "mount",
    "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree",
    "mount_setattr", "acct", "clock_settime", "clock_adjtime", "settimeofday", "reboot", "swapon",
    "swapoff", "quotactl", "quotactl_fd", "init_module", "finit_module", "delete_module",
    "kexec_load", "kexec_file_load", "lookup_dcookie", "nfsservctl", "ioperm", "iopl", "syslog",
    "uselib", "ustat", "sysfs", "_sysctl", "get_kernel_syms", "create_module", "query_module",
    "vhangup", "pidfd_getfd", "fanotify_init", "set_mempolicy_home_node",
]  # fmt: skip
SIGSYS = 31


def _require_x86_64() -> None:
    # The probe's syscall numbers and machine code are x86_64's; fail loudly elsewhere.
    assert platform.machine() == "x86_64", "tests/security/test_seccomp.py probes x86_64 syscalls"


def test_denied_syscalls_answer_their_exact_errno_and_ordinary_ones_work(lam: Any) -> None:
    # Given a function that makes each refused syscall with harmless arguments
    _require_x86_64()
    name = create_function(lam, {"app.py": PROBE}, MemorySize=256, Timeout=30)
    # When it runs
    resp, body = invoke_json(lam, name)
    assert "FunctionError" not in resp, body
    # Then each one was refused by the filter, with Docker's errno (ENOSYS for clone3, so that
    # glibc falls back to clone), and foreign ABIs killed the process that tried them
    expected: dict[str, Any] = {name: "EPERM" for name in DENIED_EPERM}
    expected |= {
        "clone3": "ENOSYS",
        "personality(0xffffffff)": "ok",
        "personality(PER_LINUX32)": "ok",
        "personality(PER_LINUX)": "ok",
        "thread": "thread",
        "fork": 7,
        "socketpair": "x",
        "i386 int 0x80": f"signal {SIGSYS}",
        "x32 syscall": f"signal {SIGSYS}",
    }
    assert body == expected


NOFILE = """
import errno, os, resource

def handler(event, context):
    fds = []
    error = None
    try:
        for _ in range(1100):
            fds.append(os.open("/dev/null", os.O_RDONLY))
    except OSError as exc:
        error = errno.errorcode[exc.errno]
    highest = max(fds)
    for fd in fds:
        os.close(fd)
    return {"limit": list(resource.getrlimit(resource.RLIMIT_NOFILE)), "error": error,
            "highest_fd": highest}
"""


def test_functions_get_1024_file_descriptors_as_on_lambda(lam: Any) -> None:
    # Given a function that opens 1100 files
    name = create_function(lam, {"app.py": NOFILE})
    # When it runs
    resp, body = invoke_json(lam, name)
    assert "FunctionError" not in resp, body
    # Then its limit is Lambda's 1024 (soft and hard), and the 1025th descriptor is EMFILE
    assert body == {"limit": [1024, 1024], "error": "EMFILE", "highest_fd": 1023}


# AWS's tutorial custom runtime, verbatim ("Building a custom runtime", Lambda developer guide:
# https://docs.aws.amazon.com/lambda/latest/dg/runtimes-walkthrough.html).
TUTORIAL_BOOTSTRAP = """#!/bin/sh

set -euo pipefail

# Initialization - load function handler
source $LAMBDA_TASK_ROOT/"$(echo $_HANDLER | cut -d. -f1).sh"

# Processing
while true
do
  HEADERS="$(mktemp)"
  # Get an event. The HTTP request will block until one is received
  EVENT_DATA=$(curl -sS -LD "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")

  # Extract request ID by scraping response headers received above
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)

  # Run the handler function from the script
  RESPONSE=$($(echo "$_HANDLER" | cut -d. -f2) "$EVENT_DATA")

  # Send the response
  curl "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response"  -d "$RESPONSE"
done
"""
TUTORIAL_FUNCTION = """function handler () {
  EVENT_DATA=$1

  RESPONSE="Echoing request: '$EVENT_DATA'"

  echo $RESPONSE
}
"""


def test_aws_tutorial_bootstrap_runs_because_bin_sh_is_bash(lam: Any) -> None:
    # Given the tutorial's provided.al2023 function (bash-only: pipefail, source, function)
    name = create_function(
        lam,
        {"bootstrap": TUTORIAL_BOOTSTRAP, "function.sh": TUTORIAL_FUNCTION},
        runtime="provided.al2023",
        handler="function.handler",
        modes={"bootstrap": 0o755},
    )
    # When it is invoked as the tutorial does
    resp = lam.invoke(FunctionName=name, Payload=b'{"text":"Hello"}')
    # Then it answers as on Lambda
    assert "FunctionError" not in resp
    assert resp["Payload"].read() == b"""Echoing request: '{"text":"Hello"}'"""


SH = """
import subprocess

def handler(event, context):
    run = lambda script: subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True)
    version = run("echo $BASH_VERSION")
    pipefail = run("set -o pipefail; false | true")
    return {"bash": version.stdout.strip(), "pipefail_status": pipefail.returncode}
"""


def test_bin_sh_is_bash_inside(lam: Any) -> None:
    # Given a Python function that runs /bin/sh
    name = create_function(lam, {"app.py": SH})
    # When it runs
    resp, body = invoke_json(lam, name)
    assert "FunctionError" not in resp, body
    # Then /bin/sh is bash (in POSIX mode, as invoked as sh) and knows pipefail
    assert body["bash"].split(".")[0].isdigit(), body
    assert body["pipefail_status"] == 1


def test_node_runs_under_the_filter(lam: Any) -> None:
    # Given a Node.js function doing file I/O (libuv probes io_uring, refused: EPERM)
    code = {
        "index.mjs": "import { readFile } from 'node:fs/promises';\n"
        "export const handler = async () => ({ passwd: (await readFile('/etc/passwd', 'utf8')).length > 0,"
        " pid: process.pid > 0 });\n"
    }
    name = create_function(lam, code, runtime="nodejs20.x", handler="index.handler")
    # When it runs
    resp, body = invoke_json(lam, name)
    # Then it works, falling back to libuv's thread pool
    assert "FunctionError" not in resp, body
    assert body == {"passwd": True, "pid": True}
