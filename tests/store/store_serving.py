"""A store served on a socket for the length of a block, and a client of it."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from kruntimes.store import RemoteStore, Store, StoreServer


@asynccontextmanager
async def serving(store: Store, path: Path) -> AsyncIterator[RemoteStore]:
    async with trio.open_nursery() as nursery:
        await nursery.start(StoreServer(store, path).serve)
        client = RemoteStore(path)
        try:
            yield client
        finally:
            await client.aclose()
            nursery.cancel_scope.cancel()
