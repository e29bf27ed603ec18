"""The function registry: every function's :class:`FunctionEntry` in memory, written through to
the store. Scope: one per server, owned by :class:`~lambent.control.functions.FunctionService`
(versions and aliases write through the same one).

Every write follows one rule, kept here and nowhere else: with the function's lock held, the
store first (in a thread: SQLite blocks), then memory. So:

- the invoke path, which reads memory only and never locks, never sees a ``$LATEST``, version or
  alias the store does not hold, and a restart loads what the last answer promised;
- a refused store write (a full disk: ``StorageFull``) leaves memory as it was;
- nothing is written through an entry that a delete (or a delete and re-create) replaced while
  the writer waited for the lock: :meth:`Registry.hold` is the only way to the lock, the writer
  re-reads the entry once it holds it, and every write checks the entry is still the current one.

Locks exist while someone holds or waits for them, or while their function exists: names a
client merely tried (a create that failed, a delete of nothing) leave none behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from lambent import arns
from lambent.control.model import Alias, FunctionConfig
from lambent.store import Store


@dataclass
class FunctionEntry:
    """A function and its versions, as the registry holds it. Changed only through :class:`Registry`."""

    key: arns.FunctionKey
    created_at: float
    tags: dict[str, str]
    reserved_concurrency: int | None
    versions: dict[str, FunctionConfig]
    last_version: int = 0
    aliases: dict[str, Alias] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return arns.key_name(self.key)

    @property
    def account_id(self) -> str:
        return arns.key_account(self.key)

    @property
    def latest(self) -> FunctionConfig:
        return self.versions[arns.LATEST]


class Registry:
    """Entries by key (account and name), their locks, and every write of them (store, then memory).
    The store's ``name`` columns hold the key."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._fns: dict[arns.FunctionKey, FunctionEntry] = {}
        self._locks: dict[arns.FunctionKey, asyncio.Lock] = {}
        #: Holders and waiters of each lock: the lock is dropped when none is left and the
        #: function does not exist.
        self._users: dict[arns.FunctionKey, int] = {}

    # -- reads (no lock: the invoke path) ------------------------------------------------------
    def get(self, key: arns.FunctionKey) -> FunctionEntry | None:
        return self._fns.get(key)

    def entries(self, account_id: str) -> list[FunctionEntry]:
        """The functions of one account, by name."""
        return sorted((f for f in self._fns.values() if f.account_id == account_id), key=lambda f: f.name)

    def values(self) -> list[FunctionEntry]:
        """Every entry, unsorted (for sums over all functions)."""
        return list(self._fns.values())

    # -- loading -------------------------------------------------------------------------------
    def read(self) -> dict[arns.FunctionKey, FunctionEntry]:
        """The entries as the store holds them (blocking: run off the event loop)."""
        fns: dict[arns.FunctionKey, FunctionEntry] = {}
        for row, versions in self.store.iter_functions():
            key = arns.parse_key(row.name)
            if key is None:  # not a key: Store.open gives rows of before accounts theirs
                continue
            account = arns.key_account(key)
            configs = {v: FunctionConfig.from_json(c).replace(account_id=account) for v, c in versions.items()}
            if arns.LATEST not in configs:
                continue
            fns[key] = FunctionEntry(
                key, row.created_at, row.tags, row.reserved_concurrency, configs, row.last_version
            )
        for fn_key, alias_json in self.store.iter_aliases():
            if fn_key in fns:
                alias = Alias.from_json(alias_json)
                fns[arns.FunctionKey(fn_key)].aliases[alias.name] = alias
        return fns

    def adopt(self, fns: dict[arns.FunctionKey, FunctionEntry]) -> None:
        """Take what :meth:`read` returned as the registry (at start-up, before any write)."""
        self._fns = dict(fns)

    # -- the lock ------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def hold(self, name: arns.FunctionKey) -> AsyncIterator[None]:
        """Hold ``name``'s lock (re-read the entry inside: it may have changed while waiting)."""
        lock = self._locks.setdefault(name, asyncio.Lock())
        self._users[name] = self._users.get(name, 0) + 1
        try:
            async with lock:
                yield
        finally:
            left = self._users[name] - 1
            if left or name in self._fns:
                self._users[name] = left
            else:
                del self._users[name]
                del self._locks[name]

    @property
    def locks_kept(self) -> int:
        """How many per-function locks exist (held, awaited, or of an existing function)."""
        return len(self._locks)

    def _check(self, fn: FunctionEntry) -> None:
        """A write is made with its function's lock held, through the current entry."""
        lock = self._locks.get(fn.key)
        if lock is None or not lock.locked():
            raise RuntimeError(f"registry write for {fn.key} without its lock")
        if self._fns.get(fn.key) is not fn:
            raise RuntimeError(f"registry write for {fn.key} through a replaced entry")

    # -- writes: store first, then memory ---------------------------------------------------------
    async def create(self, fn: FunctionEntry) -> bool:
        """Record a new function with its ``$LATEST``; False if the store has the name already."""
        lock = self._locks.get(fn.key)
        if lock is None or not lock.locked():
            raise RuntimeError(f"registry write for {fn.key} without its lock")
        if fn.key in self._fns:
            return False
        if not await asyncio.to_thread(self.store.create_function, fn.key, fn.latest.to_json(), dict(fn.tags)):
            return False
        self._fns[fn.key] = fn
        return True

    async def delete(self, fn: FunctionEntry) -> None:
        """Remove the function with all its versions and aliases."""
        self._check(fn)
        await asyncio.to_thread(self.store.delete_function, fn.key)
        del self._fns[fn.key]

    async def put_latest(self, fn: FunctionEntry, cfg: FunctionConfig, *, essential: bool = False) -> None:
        """Replace ``$LATEST``; ``essential`` for state transitions, which must land on a full
        disk too (the disk reserve, store/reserve.py)."""
        self._check(fn)
        if cfg.version != arns.LATEST or cfg.key != fn.key:
            raise ValueError(f"not {fn.key}'s $LATEST: {cfg.name}:{cfg.version}")
        await asyncio.to_thread(self.store.put_version_config, fn.key, arns.LATEST, cfg.to_json(), essential=essential)
        fn.versions[arns.LATEST] = cfg

    async def replace_version(self, fn: FunctionEntry, cfg: FunctionConfig) -> None:
        """Overwrite an existing version's config, ``$LATEST`` or a published one (a new
        RevisionId after a permission change: FunctionService.set_revision)."""
        self._check(fn)
        if cfg.key != fn.key or cfg.version not in fn.versions:
            raise ValueError(f"{cfg.name}:{cfg.version} is not an existing version of {fn.key}")
        await asyncio.to_thread(self.store.put_version_config, fn.key, cfg.version, cfg.to_json())
        fn.versions[cfg.version] = cfg

    async def add_version(self, fn: FunctionEntry, cfg: FunctionConfig) -> None:
        """Record published version ``cfg.version``, the next number (numbers are never reused)."""
        self._check(fn)
        if cfg.version != str(fn.last_version + 1) or cfg.key != fn.key:
            raise ValueError(f"{cfg.name}:{cfg.version} is not {fn.key}'s next version ({fn.last_version + 1})")
        number = fn.last_version + 1
        await asyncio.to_thread(self.store.add_version, fn.key, number, cfg.to_json())
        fn.versions[cfg.version] = cfg
        fn.last_version = number

    async def delete_version(self, fn: FunctionEntry, version: str) -> FunctionConfig | None:
        """Remove a published version; returns it (None if there was none)."""
        self._check(fn)
        if version == arns.LATEST:
            raise ValueError("$LATEST goes only with its function")
        cfg = fn.versions.get(version)
        if cfg is None:
            return None
        await asyncio.to_thread(self.store.delete_version, fn.key, version)
        del fn.versions[version]
        return cfg

    async def put_alias(self, fn: FunctionEntry, alias: Alias) -> None:
        self._check(fn)
        if alias.function != fn.name:
            raise ValueError(f"alias {alias.name} belongs to {alias.function}, not {fn.key}")
        await asyncio.to_thread(self.store.put_alias, fn.key, alias.name, alias.to_json())
        fn.aliases[alias.name] = alias

    async def delete_alias(self, fn: FunctionEntry, name: str) -> bool:
        """Remove an alias; False if there was none."""
        self._check(fn)
        if name not in fn.aliases:
            return False
        await asyncio.to_thread(self.store.delete_alias, fn.key, name)
        del fn.aliases[name]
        return True

    async def set_tags(self, fn: FunctionEntry, tags: dict[str, str]) -> None:
        self._check(fn)
        await asyncio.to_thread(self.store.set_tags, fn.key, dict(tags))
        fn.tags = dict(tags)

    async def set_reserved_concurrency(self, fn: FunctionEntry, value: int | None) -> None:
        self._check(fn)
        await asyncio.to_thread(self.store.set_reserved_concurrency, fn.key, value)
        fn.reserved_concurrency = value
