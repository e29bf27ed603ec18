"""A small cache of compiled identity policies, keyed by (principal, policy version).

The IAM store gives each principal a version number that changes whenever any of its policies
(inline, attached, or an attached managed policy's default version) changes; the server asks
:meth:`PolicyCache.get` with the current number and compiles only on a miss. A new version for a
principal evicts the older ones. Least-recently-used entries go once ``max_entries`` is reached.
One cache per server (built by the composition root, not a module global); not thread-safe, as
everything on lambent's event loop.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable

from lambent.iam.policy.evaluate import CompiledPolicy, PolicySet
from lambent.iam.policy.patterns import Matcher


class PolicyCache:
    """Compiled :class:`PolicySet` s by (principal ARN, version)."""

    def __init__(self, max_entries: int = 4096) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, Hashable], PolicySet] = OrderedDict()
        self._versions: dict[str, Hashable] = {}
        #: Wildcard matchers shared by every policy compiled through this cache.
        self.matchers: dict[tuple[bool, bool, tuple[str, ...]], Matcher] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, principal: str, version: Hashable,
            load: Callable[[dict[tuple[bool, bool, tuple[str, ...]], Matcher]], Iterable[CompiledPolicy]]) -> PolicySet:
        """The principal's policies at ``version``; on a miss ``load(matchers)`` compiles them
        (passing ``matchers`` as ``compile_policy(..., shared=matchers)`` reuses wildcard matchers)."""
        key = (principal, version)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            self.hits += 1
            return found
        self.misses += 1
        if len(self.matchers) > 8 * self._max:
            self.matchers.clear()  # bounded: matchers are rebuilt on demand
        policies = PolicySet(load(self.matchers))
        old = self._versions.get(principal)
        if old is not None and old != version:
            self._entries.pop((principal, old), None)
        self._versions[principal] = version
        self._entries[key] = policies
        while len(self._entries) > self._max:
            (evicted, ver), _ = self._entries.popitem(last=False)
            if self._versions.get(evicted) == ver:
                del self._versions[evicted]
        return policies

    def invalidate(self, principal: str) -> None:
        """Forget every cached version of ``principal`` (deleted user or role)."""
        version = self._versions.pop(principal, None)
        if version is not None:
            self._entries.pop((principal, version), None)
