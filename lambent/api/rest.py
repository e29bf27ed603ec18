"""The input members of every served Lambda operation that no handler acts on, as one view.

Handlers declare what they act on at registration (``Operations.register(..., handled=)``); the
protocol layer refuses the rest by name (:mod:`lambent.api.protocols.unhandled`). ``REGISTRY``
shows them per operation; tests walk it against botocore's model.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from lambent.api.protocols.unhandled import Handled, Unhandled

__all__ = ["REGISTRY", "Handled", "Unhandled"]


class _Registry(Mapping[str, Unhandled]):
    """Every registered Lambda operation with its unhandled members (all API modules imported)."""

    def _all(self) -> Mapping[str, Unhandled]:
        from lambent.api.services import LAMBDA, table

        table()  # every API module imported: every registration made
        return LAMBDA.unhandled()

    def __getitem__(self, operation: str) -> Unhandled:
        return self._all()[operation]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


REGISTRY: Mapping[str, Unhandled] = _Registry()
