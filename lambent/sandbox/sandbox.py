"""``Sandbox``: one process tree isolated by bubblewrap and limited by a cgroup.

Launch, every privileged step in order (the parent is root; nothing else runs as root):

0. With ``options.uids``: take the sandbox's own host uid ``U`` (host-wide lock, ``uids.py``)
   and add ``user:U:r-x`` to the ACL of each ``private`` mount's source; both are undone by
   ``destroy`` once the tree has exited. Without it every sandbox is host uid 65534.
1. Pipes, all O_CLOEXEC: bwrap status (JSON), block, output (stdout+stderr), one pipe per
   generated /etc file, one with the seccomp program (``_seccomp``, compiled once per process;
   bwrap loads it right before it execs the command), and one with bwrap's own options
   (``--args``: /proc/<pid>/cmdline is world-readable, and would name every bind source); only
   their child ends are passed to bwrap.
2. ``setpriv --reuid/--regid U --clear-groups -- bwrap --args FD -- argv`` via
   ``create_subprocess_exec``, its environment the sandbox's plus ``LAMBENT_SANDBOX_OWNER``
   (``options.owner``, for ``orphans.py``; ``--unsetenv`` drops it for the command).
   setpriv rather than ``create_subprocess_exec(user=…, group=…)``: with those arguments CPython
   must ``fork`` instead of ``vfork`` (measured 4 ms instead of 2 ms per spawn from a small
   parent, 32 ms instead of 2 ms from a 500 MB one), and uvloop, uvicorn's default loop, rejects
   them outright. bwrap thus starts unprivileged and the sandbox uid maps to host uid U, never
   to root.
3. The cgroup is created while bwrap starts (overlapping its work).
4. bwrap reports the pid of the sandbox's init right after ``clone``; it is moved into the
   cgroup. Meanwhile the init (still bwrap's own code) sets up the mounts, then blocks on
   ``--block-fd`` before it forks and execs the command, so every instruction of sandboxed code
   runs limited.
5. If ``listen_port`` is set, the listening socket is created inside the sandbox's network
   namespace (``_netns``), and one more per ``options.extra_listen_ports`` entry (``extra_listeners``). Meanwhile the blocked init's RLIMIT_NOFILE is set (``_rlimit``;
   the command inherits it).
   With a ``network`` hook (``start_with_network``), it runs meanwhile too, given the init's
   pid: it may move an interface into the sandbox's network namespace and configure it
   (``lambent.network`` does, for the default network); its failure fails the start.
6. One byte on the block pipe lets bwrap exec the command.

Pre-started pool (not built): a pool would run steps 1-5 ahead of time with a generic runtime
loader as ``argv`` and a writable, initially empty staging directory mounted where code lives,
then hand out the sandbox and tell the loader over ``listener`` which code to load once the
host has filled the staging directory. The seam is ``_handshake``: split it after step 5 and
keep the block pipe (or the loader's wait on ``listener``) as the "attach code now" trigger.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable

from . import _argv, _rlimit, _seccomp
from ._cgroup_base import Cgroup
from ._netns import listen_in_netns
from ._status import ExitStatus, StatusReader, exit_status_from_returncode
from .cgroups import CgroupManager
from .errors import SandboxError
from .spec import SandboxOptions, SandboxSpec
from .uids import UidLease

__all__ = ["ExitStatus", "Sandbox"]

_log = logging.getLogger(__name__)
# How often destroy re-sends SIGKILL to the cgroup while waiting for the tree to exit.
_KILL_RETRY_S = 0.05
#: How long a teardown waits for bwrap to report the init's pid before killing bwrap alone.
_PID_REPORT_WAIT_S = 1.0

#: Called with the sandbox init's host pid while it is blocked (step 5 of the launch).
NetworkHook = Callable[[int], Awaitable[None]]


class _Pipes:
    """All descriptors of one launch; the child ends are closed once bwrap has them."""

    def __init__(self, data: tuple[bytes, bytes, bytes], seccomp: bytes | None = None) -> None:
        self._fds: list[int] = []
        self.extra_child: list[int] = []
        self.status_r, status_w = self._pipe()
        block_r, self.block_w = self._pipe()
        self.output_r, self.output_w = self._pipe()
        # Non-blocking for the host's event loop; the sandbox's write end stays blocking so a
        # slow reader applies back-pressure instead of failing the sandboxed writes.
        os.set_blocking(self.output_r, False)
        data_r: list[int] = []
        for content in (*data, *(() if seccomp is None else (seccomp,))):
            r, w = self._pipe()
            # Far below the 64 KiB pipe buffer, so this never blocks; bwrap reads to EOF.
            os.write(w, content)
            os.close(w)
            self._fds.remove(w)
            data_r.append(r)
        self.child = _argv.ChildFds(
            status_w=status_w,
            block_r=block_r,
            passwd_r=data_r[0],
            group_r=data_r[1],
            hosts_r=data_r[2],
            seccomp_r=data_r[3] if seccomp is not None else None,
        )

    def _pipe(self) -> tuple[int, int]:
        r, w = os.pipe2(os.O_CLOEXEC)
        self._fds += [r, w]
        return r, w

    def add_child_data(self, content: bytes) -> int:
        """One more pipe bwrap reads to EOF (its --args); returns the child's end."""
        r, w = self._pipe()
        if len(content) > 65536:
            fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, len(content))
        os.write(w, content)
        self._close(w)
        self.extra_child.append(r)
        return r

    def child_fds(self) -> tuple[int, ...]:
        return (*self.child.all(), *self.extra_child)

    def close_child_ends(self) -> None:
        for fd in (*self.child_fds(), self.output_w):
            self._close(fd)

    def release(self) -> None:
        """Forget the host ends: from now on the Sandbox owns them."""
        self._fds.clear()

    def close_all(self) -> None:
        for fd in list(self._fds):
            self._close(fd)

    def _close(self, fd: int) -> None:
        if fd in self._fds:
            self._fds.remove(fd)
            os.close(fd)


class Sandbox:
    """A running sandbox.

    Lifetime: created by ``start``; owns the bwrap process, the cgroup, ``output_fd`` and
    ``listener`` until ``destroy``. After ``destroy`` every method is harmless: readings are 0,
    freeze/thaw do nothing, ``wait`` returns the final status. Consumers must not close
    ``output_fd`` or ``listener`` themselves and should stop watching them before ``destroy``.
    """

    def __init__(
        self,
        *,
        spec: SandboxSpec,
        options: SandboxOptions,
        process: asyncio.subprocess.Process,
        status: StatusReader,
        output_fd: int,
        block_fd: int,
    ) -> None:
        self.spec = spec
        self.sandbox_id = spec.sandbox_id
        self.pid = 0  # set once bwrap reported it; the sandbox's init (pid 1 inside)
        self.listener: socket.socket | None = None
        #: One listening socket per ``options.extra_listen_ports`` entry, in that order.
        self.extra_listeners: tuple[socket.socket, ...] = ()
        self.output_fd = output_fd
        self._options = options
        self._process = process
        self._status = status
        self._block_fd: int | None = block_fd
        self._cgroup: Cgroup | None = None
        self._in_cgroup = False
        self._closed = False
        self._exit_task = asyncio.ensure_future(self._watch_exit())
        self._destroy_task: asyncio.Future[None] | None = None
        self._uid_lease: UidLease | None = None

    # ----------------------------------------------------------------------------- start

    @classmethod
    async def start(
        cls,
        spec: SandboxSpec,
        cgroups: CgroupManager,
        options: SandboxOptions | None = None,
    ) -> Sandbox:
        """Launch ``spec`` and return once the command is released to run.

        Raises SandboxError if bwrap or setpriv are missing, cgroups are unusable, a mount
        source does not exist, or the handshake fails or exceeds ``start_timeout_s``. Nothing
        is left behind on failure (or cancellation).
        """
        return await cls._start(spec, cgroups, options, None)

    @classmethod
    async def start_with_network(
        cls, spec: SandboxSpec, cgroups: CgroupManager, options: SandboxOptions | None, network: NetworkHook
    ) -> Sandbox:
        """``start``, running ``network(pid)`` while the init is blocked (step 5): whatever it
        raises fails the start (as raised; the sandbox destroyed)."""
        return await cls._start(spec, cgroups, options, network)

    @classmethod
    async def _start(
        cls, spec: SandboxSpec, cgroups: CgroupManager, options: SandboxOptions | None, network: NetworkHook | None
    ) -> Sandbox:
        opts = options or SandboxOptions()
        opts.check_ports(spec)
        _preflight(spec, cgroups, opts)
        # Its own host uid (if opts.uids), granted its private mounts; given back by destroy.
        lease = _take_uid(spec, opts)
        if lease is not None:
            opts = dataclasses.replace(opts, host_uid=lease.uid, host_gid=lease.gid)
        unowned = [lease] if lease is not None else []
        try:
            return await cls._launch(spec, cgroups, opts, unowned, network)
        finally:
            for left in unowned:  # not yet handed to a Sandbox (whose destroy gives it back)
                left.release()

    @classmethod
    async def _launch(
        cls, spec: SandboxSpec, cgroups: CgroupManager, opts: SandboxOptions, lease: list[UidLease],
        network: NetworkHook | None = None,
    ) -> Sandbox:
        try:
            # Compiled once per process (cached); every start just writes it to a pipe.
            program = _seccomp.seccomp_program() if opts.seccomp else None
        except SandboxError as exc:
            raise SandboxError(exc.message, sandbox_id=spec.sandbox_id, hint=exc.hint) from exc
        pipes = _Pipes(
            (
                _argv.passwd_bytes(spec, opts),
                _argv.group_bytes(spec, opts),
                _argv.hosts_bytes(spec),
            ),
            program,
        )
        command = _argv.build_command(
            spec, opts, pipes.child, _argv.host_root_entries(), _argv.sh_overlay(opts.bin_sh)
        )
        hidden = _argv.hide_bwrap_options(command, spec, opts)
        command = hidden.argv(pipes.add_child_data(hidden.options))
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=pipes.output_w,
                stderr=pipes.output_w,
                pass_fds=pipes.child_fds(),
                # The complete sandbox environment (and the owner marker): see launch_env.
                env=_argv.launch_env(spec, opts),
                # Keep terminal signals (Ctrl-C on a foreground server) away from sandboxes;
                # the owner tears them down deliberately.
                start_new_session=True,
            )
        except OSError as exc:
            pipes.close_all()
            raise SandboxError(
                f"cannot execute {opts.setpriv_path}: {exc}", sandbox_id=spec.sandbox_id
            ) from exc
        except BaseException:
            pipes.close_all()
            raise
        pipes.close_child_ends()
        pipes.release()
        sandbox = cls(
            spec=spec,
            options=opts,
            process=process,
            status=StatusReader(pipes.status_r, asyncio.get_running_loop()),
            output_fd=pipes.output_r,
            block_fd=pipes.block_w,
        )
        # From here on destroy() gives the uid back (once the tree is gone), not start().
        sandbox._uid_lease = lease.pop() if lease else None
        try:
            async with asyncio.timeout(opts.start_timeout_s):
                await sandbox._handshake(cgroups, network)
        except BaseException as exc:
            said = sandbox._drain_output()
            await sandbox.destroy()
            if isinstance(exc, TimeoutError):
                raise SandboxError(
                    f"sandbox start timed out after {opts.start_timeout_s}s",
                    sandbox_id=spec.sandbox_id,
                    hint=said or None,
                ) from exc
            if isinstance(exc, SandboxError):
                raise SandboxError(
                    exc.message,
                    sandbox_id=spec.sandbox_id,
                    path=exc.path,
                    hint=(f"bwrap output: {said}" if said else exc.hint),
                ) from exc
            raise
        return sandbox

    async def _handshake(self, cgroups: CgroupManager, network: NetworkHook | None = None) -> None:
        loop = asyncio.get_running_loop()
        # Created while bwrap starts up, so it costs no extra latency.
        cgroup = self._cgroup = cgroups.create(self.sandbox_id, self.spec.limits)
        self.pid = await self._status.child_pid()
        # The init is blocked on --block-fd, before it forks the command, which inherits the
        # limit (_rlimit: on an executor thread, overlapping the steps below).
        nofile = (
            loop.run_in_executor(None, _rlimit.set_nofile, self.pid, self._options.nofile_limit)
            if self._options.nofile_limit
            else None
        )
        listening: asyncio.Future[socket.socket] | None = None
        if self.spec.listen_port is not None:
            # Runs on its own thread while the init is moved into the cgroup.
            listening = listen_in_netns(
                self.pid, port=self.spec.listen_port, backlog=self._options.listen_backlog
            )
        extra = [
            listen_in_netns(self.pid, port=port, backlog=self._options.listen_backlog)
            for port in self._options.extra_listen_ports
        ]
        # The init cannot exit (it is blocked) nor its pid be reused while the hook runs.
        networking = asyncio.ensure_future(network(self.pid)) if network is not None else None
        try:
            # Off the loop: moving a process between cgroups can wait for an RCU grace period
            # (cgroup_threadgroup_rwsem), measured 5-15 ms when no migration happened in the
            # last few ms, ~0.05 ms otherwise (and always with favordynmods).
            await loop.run_in_executor(None, cgroup.add_pid, self.pid)
            self._in_cgroup = True
        finally:
            # Even on failure: wait for every socket so it is closed, not leaked.
            await self._collect_listeners(listening, extra)
            if nofile is not None:
                await nofile
            if networking is not None:
                # Awaited even when the cgroup step failed, so the hook never outlives the start.
                await asyncio.wait({networking})
        if networking is not None:
            networking.result()  # its error fails the start
        if self._block_fd is None:
            raise SandboxError("sandbox destroyed during start")
        try:
            os.write(self._block_fd, b"\x01")
        except BrokenPipeError as exc:
            raise SandboxError("bwrap exited during sandbox setup") from exc
        self._close_block_fd()

    async def _collect_listeners(
        self, main: asyncio.Future[socket.socket] | None, extra: list[asyncio.Future[socket.socket]]
    ) -> None:
        """Wait for every socket and keep each one created (destroy closes them); the first
        error, if any, is raised once all are in."""
        pending = [f for f in (main, *extra) if f is not None]
        if not pending:
            return
        try:
            await asyncio.wait(pending)
        finally:
            for future in pending:
                future.cancel()  # a socket still being created is closed once it is (``_netns``)
            ok = [f for f in pending if not f.cancelled() and f.exception() is None]
            if main is not None and main in ok:
                self.listener = main.result()
            self.extra_listeners = tuple(f.result() for f in extra if f in ok)
        for future in pending:
            error = future.exception()
            if error is not None:
                raise error

    def _drain_output(self) -> str:
        """Whatever bwrap printed so far (its error messages), for error reports."""
        chunks: list[bytes] = []
        try:
            while sum(map(len, chunks)) < 4096:
                chunk = os.read(self.output_fd, 4096)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError:
            pass
        return b"".join(chunks).decode(errors="replace").strip()

    # ----------------------------------------------------------------------------- exit

    async def _watch_exit(self) -> ExitStatus:
        returncode = await self._process.wait()
        oom_killed = False
        if self._cgroup is not None:
            try:
                oom_killed = self._cgroup.oom_kill_count() > 0
            except SandboxError:
                oom_killed = False
        # Only now: bwrap's last act is writing its exit code to this pipe.
        self._status.close()
        return exit_status_from_returncode(returncode, oom_killed=oom_killed)

    async def wait(self) -> ExitStatus:
        """The command's exit status, once the whole sandboxed tree is gone.

        bwrap exits only after the sandbox's init has, and the init's exit tears down its
        entire pid namespace. Safe to call many times and concurrently; the caller bounds the
        wait (a function may run forever).
        """
        return await asyncio.shield(self._exit_task)

    @property
    def exited(self) -> bool:
        return self._exit_task.done()

    # ----------------------------------------------------------------------------- control

    @property
    def cgroup(self) -> Cgroup | None:
        """The sandbox's cgroup (None only while a failed start is being torn down)."""
        return self._cgroup

    def _live_cgroup(self) -> Cgroup | None:
        if self._closed or self._cgroup is None or self._cgroup.destroyed:
            return None
        return self._cgroup

    def freeze(self) -> None:
        """Ask the kernel to stop every process; returns at once (one file write)."""
        cgroup = self._live_cgroup()
        if cgroup is not None:
            cgroup.freeze()

    def thaw(self) -> None:
        cgroup = self._live_cgroup()
        if cgroup is not None:
            cgroup.thaw()

    def set_cpu_millicores(self, cpu_millicores: int) -> None:
        """Change the CPU quota while the sandbox runs (1000 = one full CPU)."""
        cgroup = self._live_cgroup()
        if cgroup is not None:
            cgroup.set_cpu_millicores(cpu_millicores)

    def memory_peak_bytes(self) -> int:
        cgroup = self._live_cgroup()
        return cgroup.memory_peak_bytes() if cgroup is not None else 0

    def reset_memory_peak(self) -> None:
        cgroup = self._live_cgroup()
        if cgroup is not None:
            cgroup.reset_memory_peak()

    def memory_current_bytes(self) -> int:
        cgroup = self._live_cgroup()
        return cgroup.memory_current_bytes() if cgroup is not None else 0

    def cpu_usage_ns(self) -> int:
        cgroup = self._live_cgroup()
        return cgroup.cpu_usage_ns() if cgroup is not None else 0

    # ----------------------------------------------------------------------------- destroy

    async def destroy(self) -> None:
        """Kill everything, remove the cgroup, close every descriptor. Idempotent.

        Bounded by ``destroy_timeout_s``; anything that outlives it is logged (and left to
        ``CgroupManager.cleanup_stale``). Cancelling a caller does not abort the teardown.
        """
        if self._destroy_task is None:
            self._destroy_task = asyncio.ensure_future(self._destroy())
        await asyncio.shield(self._destroy_task)

    async def _destroy(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._options.destroy_timeout_s
        try:
            await self._kill_and_reap(deadline)
            await self._remove_cgroup(deadline)
        finally:
            self._release_fds()
            self._release_uid()

    def _release_uid(self) -> None:
        lease, self._uid_lease = self._uid_lease, None
        if lease is None:
            return
        if self.exited:
            lease.release()
        else:
            # Processes of this uid may still run: handing it to another sandbox would let them
            # at its environment. Kept (locked) until this process exits.
            self._uid_lease = lease
            _log.warning("sandbox %s still running; keeping its uid %d", self.sandbox_id, lease.uid)

    def _kill(self) -> None:
        if self._cgroup is not None and not self._cgroup.destroyed:
            try:
                self._cgroup.kill_all()
            except SandboxError as exc:
                _log.warning("killing sandbox %s via cgroup failed: %s", self.sandbox_id, exc)
        if self.pid and not self._in_cgroup and not self.exited:
            # Start aborted before the init joined the cgroup. bwrap has not reaped it yet
            # (it is still running), so the pid cannot have been reused. It must die before
            # the block pipe closes: EOF there would release it, and it does not yet have
            # --die-with-parent's death signal.
            _signal(self.pid)

    async def _kill_and_reap(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        bwrap_killed = False
        if not self.exited and self.pid == 0:
            self._status.drain()
            self.pid = self._status.reported_pid or 0
            if self.pid == 0:
                # Killing bwrap between its clone of the init and its report of the pid would
                # orphan the init (blocked, without its death signal yet; our closing the block
                # pipe would then release it). bwrap reports within milliseconds even on a
                # loaded host: wait for the report first, and kill bwrap alone only if none comes.
                with contextlib.suppress(SandboxError, TimeoutError):
                    wait_s = min(_PID_REPORT_WAIT_S, max(0.0, (deadline - loop.time()) / 2))
                    self.pid = await asyncio.wait_for(self._status.child_pid(), wait_s)
            if self.pid == 0:
                # No init known: bwrap itself is all there is to kill.
                self._kill_bwrap()
                bwrap_killed = True
        while not self.exited:
            self._kill()
            remaining = deadline - loop.time()
            if remaining <= 0:
                _log.warning("sandbox %s did not exit within the destroy timeout", self.sandbox_id)
                return
            if not bwrap_killed and remaining < self._options.destroy_timeout_s / 2:
                # Last resort: bwrap's death SIGKILLs the init (--die-with-parent).
                self._kill_bwrap()
                bwrap_killed = True
            await asyncio.wait({self._exit_task}, timeout=min(_KILL_RETRY_S, remaining))
        orphan = self._status.reported_pid
        if self.pid == 0 and orphan is not None and not self._in_cgroup:
            # bwrap died between reporting the pid and our reading it; its init was orphaned
            # while blocked and must not outlive us.
            self.pid = orphan
            _signal(orphan)

    def _kill_bwrap(self) -> None:
        try:
            self._process.kill()
        except ProcessLookupError:
            pass

    async def _remove_cgroup(self, deadline: float) -> None:
        cgroup = self._cgroup
        if cgroup is None:
            return
        loop = asyncio.get_running_loop()
        while True:
            try:
                if cgroup.destroy():
                    return
            except SandboxError as exc:
                _log.warning("removing cgroup of sandbox %s failed: %s", self.sandbox_id, exc)
                return
            if loop.time() >= deadline:
                _log.warning("cgroup of sandbox %s still busy; left in place", self.sandbox_id)
                return
            cgroup.kill_all()
            await asyncio.sleep(0.002)

    def _close_block_fd(self) -> None:
        if self._block_fd is not None:
            os.close(self._block_fd)
            self._block_fd = None

    def _release_fds(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.exited:
            self._close_block_fd()
        else:
            # The tree may still be alive: an EOF on the block pipe would let a blocked init
            # proceed. Leaking one fd is the lesser evil.
            _log.warning("sandbox %s still running; keeping its block pipe open", self.sandbox_id)
        if self.listener is not None:
            self.listener.close()
        for extra in self.extra_listeners:
            extra.close()
        if self.exited:
            # Closed by _watch_exit already in the normal case; this covers the rest.
            self._status.close()
        os.close(self.output_fd)

    def __repr__(self) -> str:
        state = "destroyed" if self._closed else ("exited" if self.exited else "running")
        return f"Sandbox(id={self.sandbox_id!r}, pid={self.pid}, {state})"


def _signal(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _take_uid(spec: SandboxSpec, options: SandboxOptions) -> UidLease | None:
    """The sandbox's own host uid, granted its private mounts; None without an allocator."""
    private = [m.source for m in spec.mounts if m.private]
    if options.uids is None:
        if private:
            raise SandboxError(
                "private mounts need a host uid per sandbox",
                sandbox_id=spec.sandbox_id,
                hint="set SandboxOptions.uids",
            )
        return None
    try:
        lease = options.uids.acquire()
    except SandboxError as exc:
        # Same class (a SandboxCapacityExceeded stays one), now naming the sandbox.
        raise type(exc)(exc.message, sandbox_id=spec.sandbox_id, path=exc.path, hint=exc.hint) from exc
    try:
        lease.grant(private)
    except SandboxError as exc:
        lease.release()
        raise type(exc)(exc.message, sandbox_id=spec.sandbox_id, path=exc.path, hint=exc.hint) from exc
    except BaseException:
        lease.release()
        raise
    return lease


def _preflight(spec: SandboxSpec, cgroups: CgroupManager, options: SandboxOptions) -> None:
    """Cheap checks that turn confusing bwrap failures into clear errors."""
    if not cgroups.available:
        raise SandboxError(
            f"cgroups unavailable: {cgroups.unavailable_reason}",
            sandbox_id=spec.sandbox_id,
            hint="refusing to run a sandbox without resource limits",
        )
    executables = [(options.bwrap_path, "bubblewrap"), (options.setpriv_path, "util-linux")]
    if options.bin_sh:
        executables.append((options.bin_sh, "bash"))
    for exe, package in executables:
        if not os.access(exe, os.X_OK):
            raise SandboxError(
                f"{exe} is missing or not executable",
                sandbox_id=spec.sandbox_id,
                hint=f"install {package}",
            )
    for mount in spec.mounts:
        if not os.path.exists(mount.source):
            raise SandboxError(
                "mount source does not exist", sandbox_id=spec.sandbox_id, path=mount.source
            )
