"""A trio loop on a daemon thread, so that synchronous code can use the async client.

One loop for the client's lifetime (not one `trio.run` per call) keeps the
store's pooled connections, watches and an embedded engine alive between calls.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio

T = TypeVar("T")


class Portal:
    def __init__(self) -> None:
        self._ready = threading.Event()
        self._nursery: trio.Nursery | None = None
        self.token: trio.lowlevel.TrioToken | None = None
        self._thread = threading.Thread(
            target=trio.run, args=(self._main,), name="kruntimes-client", daemon=True
        )
        self._thread.start()
        self._ready.wait()
        atexit.register(self.close)

    async def _main(self) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.token = trio.lowlevel.current_trio_token()
            self._ready.set()
            await trio.sleep_forever()

    def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        return trio.from_thread.run(fn, trio_token=self.token)

    def start(self, service: Callable[..., Awaitable[Any]]) -> Any:
        """Start a long-running task in the loop, like `nursery.start(service)`."""
        assert self._nursery is not None
        nursery = self._nursery
        return self.call(lambda: nursery.start(service))

    def close(self) -> None:
        """Cancel everything started here and stop the loop; idempotent."""
        atexit.unregister(self.close)
        if self._thread.is_alive() and self._nursery is not None:
            cancel = self._nursery.cancel_scope.cancel
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(cancel, trio_token=self.token)
        self._thread.join()
