"""The network package's error: anything that stops an environment's network from being set up.

``NetworkSetupFailed`` is a :class:`lambent.errors.ServiceError`, so the API maps it (by its MRO)
to 500 ServiceException: lambent failed, not the function. The message is generic; what failed
(the command, its output) rides in ``context`` for the log.
"""

from __future__ import annotations

from lambent.errors import ServiceError

__all__ = ["NetworkSetupFailed"]


class NetworkSetupFailed(ServiceError):
    """The bridge, a veth, an address, the nftables table or the DNS forwarder could not be set up."""
