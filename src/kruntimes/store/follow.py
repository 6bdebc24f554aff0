"""Follow one kind of object: list, then watch from the listing, and re-list after `Gone`.

The shape every consumer of a store needs (an informer, in Kubernetes terms).
`handle(obj, deleted)` sees every listed object, then every change; after a
`Gone` the listing is replayed, so `handle` must be idempotent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import trio

from kruntimes.store.port import EventType, Gone, Listing, T, WatchEvent


async def follow(
    list_objects: Callable[[str | None], Awaitable[Listing[T]]],
    watch_objects: Callable[
        [str, str | None], AbstractAsyncContextManager[AsyncIterator[WatchEvent[T]]]
    ],
    namespace: str | None,
    handle: Callable[[T, bool], None],
    *,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Until cancelled; `task_status.started()` once the first listing is handled."""
    started = False
    while True:
        listing = await list_objects(namespace)
        for obj in listing.items:
            handle(obj, False)
        if not started:
            started = True
            task_status.started()
        try:
            async with watch_objects(listing.resource_version, namespace) as events:
                async for event in events:
                    if event.object is not None:
                        handle(event.object, event.type is EventType.DELETED)
        except Gone:
            continue
