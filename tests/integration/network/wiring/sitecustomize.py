"""Test-only wiring of the default network into ``lambent server`` (loaded through PYTHONPATH by
tests/integration/network): what the integrator adds to lambent/platform.py, applied here until
it lands. The platform starts the network after itself and closes it after its pool."""

from __future__ import annotations

import os

if os.environ.get("LAMBENT_NETWORK_ENABLED", "").lower() in ("1", "true", "yes", "on"):
    from lambent import platform as _platform
    from lambent.network import DefaultNetwork

    if not hasattr(_platform.Platform, "network"):
        _start, _stop = _platform.Platform.start, _platform.Platform.stop

        async def _start_with_network(self: _platform.Platform) -> None:
            await _start(self)
            net = DefaultNetwork(self.settings.network, data_dir=self.settings.data_dir, files_dir=self.sandbox_dir)
            await net.start()
            self._test_network = net  # type: ignore[attr-defined]
            self.pool.network_with(net)

        async def _stop_with_network(self: _platform.Platform) -> None:
            await _stop(self)
            net = getattr(self, "_test_network", None)
            if net is not None:
                await net.close()

        _platform.Platform.start = _start_with_network  # type: ignore[method-assign]
        _platform.Platform.stop = _stop_with_network  # type: ignore[method-assign]
