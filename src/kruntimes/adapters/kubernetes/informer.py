"""Follow any collection of the API as plain dicts: list, watch from the listing, re-list.

`follow_raw` is to raw API paths what `kruntimes.store.follow.follow` is to
the store: `handle(obj, deleted)` sees every listed object, then every
change. Unlike a bare list-then-watch it also reports, after a re-list, the
objects that vanished while no watch was open (as deletions of their last
known version), so a cache fed by `handle` never keeps a ghost.

`watch_raw` is the one watch reader of the adapter (`KubeStore` decodes
its events into model objects): one worker thread per stream
(`KubeApi.open_stream` + `stream_lines`), feeding a bounded trio channel;
a consumer that falls `buffer` events behind is cut off and re-lists, so
the apiserver never holds a stream for a slow reader. Streams the server
ends (`timeoutSeconds`, a restart) resume from the last version seen,
bookmarks included; a 410 or any `ERROR` event re-lists.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

import structlog
import trio
from attrs import frozen

from kruntimes.adapters.kubernetes.api import KubeApi, error_for, stream_lines
from kruntimes.store.port import Gone, Listing, StoreError, Unavailable

log = structlog.get_logger("kruntimes.informer")

WATCH_SECONDS = 290
"""Server-side watch timeout; the stream is resumed from the last version seen."""
RELIST_FIRST_DELAY = 0.5
RELIST_MAX_DELAY = 30.0
"""Backoff between failed listings (other than `Gone`, which re-lists at once)."""
_DROPPED_METADATA = ("managedFields", "selfLink")
_WATCH_QUERY = {"watch": "1", "allowWatchBookmarks": "true", "timeoutSeconds": str(WATCH_SECONDS)}

RawObject = dict[str, Any]
Key = tuple[str, str]
"""(namespace, name); namespace is "" for cluster-scoped objects."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@frozen
class RawEvent:
    """One watch event: `type` is ADDED, MODIFIED, DELETED or BOOKMARK."""

    type: str
    object: RawObject
    resource_version: str


def object_key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def strip(obj: RawObject) -> RawObject:
    """Drop server bookkeeping nobody here reads (a PUT without it leaves it unchanged)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        for key in _DROPPED_METADATA:
            meta.pop(key, None)
    return obj


async def list_raw(api: KubeApi, path: str, *, label_selector: str | None = None) -> Listing[Any]:
    """The collection's items (dicts) and the resource version to watch from."""
    query = {"labelSelector": label_selector} if label_selector else None
    document = await api.request("GET", path, query=query)
    items = tuple(strip(item) for item in document.get("items") or () if isinstance(item, dict))
    return Listing(items, str(document["metadata"]["resourceVersion"]))


@asynccontextmanager
async def watch_raw(
    api: KubeApi,
    path: str,
    resource_version: str,
    *,
    label_selector: str | None = None,
    buffer: int = 4096,
    convert: Callable[[RawEvent], Any] | None = None,
) -> AsyncIterator[AsyncIterator[Any]]:
    """`async with watch_raw(...) as events: async for event in events:` until cancelled.

    Raises `Gone` (from the iteration) when the version is too old, the
    server sent an `ERROR` event, or the consumer fell `buffer` events behind.
    `convert` turns each `RawEvent` into what the consumer gets (None: skip
    it), in the reading thread, off the trio loop.
    """
    send, receive = trio.open_memory_channel[Any](buffer)
    query = {"labelSelector": label_selector} if label_selector else {}
    raised: BaseException | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            partial(
                _pump,
                api,
                path,
                query=query,
                resource_version=resource_version,
                send=send,
                buffer=buffer,
                convert=convert,
            )
        )
        try:
            yield _Events(receive)
        except BaseException as error:  # re-raised below, not wrapped in an ExceptionGroup
            raised = error
        finally:
            nursery.cancel_scope.cancel()
    if raised is not None:
        raise raised


async def follow_raw(
    api: KubeApi,
    path: str,
    handle: Callable[[RawObject, bool], None],
    *,
    label_selector: str | None = None,
    buffer: int = 4096,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """List and watch `path` until cancelled; `task_status.started()` after the first listing.

    A failed listing (the apiserver unreachable for a minute, RBAC) is logged
    and retried with capped backoff: a follower never gives up on its own.
    """
    known: dict[Key, RawObject] = {}

    def handled(obj: RawObject, deleted: bool) -> None:
        key = object_key(obj)
        if deleted:
            known.pop(key, None)
        else:
            known[key] = obj
        handle(obj, deleted)

    async def listing() -> Listing[Any]:
        listed = await list_raw(api, path, label_selector=label_selector)
        for gone in vanished(known, listed.items, object_key):
            handled(gone, True)
        return listed

    def watch(version: str) -> Any:
        return watch_raw(api, path, version, label_selector=label_selector, buffer=buffer)

    async def stream(events: AsyncIterator[RawEvent]) -> None:
        async for event in events:
            if event.type != "BOOKMARK":
                handled(event.object, event.type == "DELETED")

    await _follow(
        path,
        listing=listing,
        handled=handled,
        watch=watch,
        stream=stream,
        task_status=task_status,
    )


def vanished(known: Mapping[K, V], items: tuple[V, ...], key: Callable[[V], K]) -> list[V]:
    """The last known version of each object of `known` that a fresh listing no longer has."""
    present = {key(item) for item in items}
    return [obj for k, obj in known.items() if k not in present]


async def retrying(
    what: str,
    follow: Callable[[Any], Awaitable[None]],
    *,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run `follow(task_status)` again after a `StoreError` (logged, capped backoff), forever.

    `task_status.started()` is passed on to the first attempt that lists
    successfully; later attempts get `TASK_STATUS_IGNORED`.
    """
    delay = RELIST_FIRST_DELAY
    started = False

    class _Status:
        def started(self, value: Any = None) -> None:
            nonlocal started, delay
            delay = RELIST_FIRST_DELAY
            if not started:
                started = True
                task_status.started(value)

    while True:
        try:
            await follow(_Status())
        except StoreError as error:
            log.warning("follow failed; retrying", what=what, error=str(error), delay=delay)
        await trio.sleep(delay)
        delay = min(delay * 2, RELIST_MAX_DELAY)


async def _follow(
    path: str,
    *,
    listing: Callable[[], Awaitable[Listing[Any]]],
    handled: Callable[[RawObject, bool], None],
    watch: Callable[[str], Any],
    stream: Callable[[AsyncIterator[RawEvent]], Awaitable[None]],
    task_status: Any,
) -> None:
    started = False
    delay = RELIST_FIRST_DELAY
    while True:
        try:
            listed = await listing()
        except StoreError as error:
            log.warning("listing failed; retrying", path=path, error=str(error), delay=delay)
            await trio.sleep(delay)
            delay = min(delay * 2, RELIST_MAX_DELAY)
            continue
        delay = RELIST_FIRST_DELAY
        for obj in listed.items:
            handled(obj, False)
        if not started:
            started = True
            task_status.started()
        try:
            async with watch(listed.resource_version) as events:
                await stream(events)
        except Gone as error:
            log.debug("watch expired; re-listing", path=path, reason=str(error))
        except StoreError as error:
            log.warning("watch failed; re-listing", path=path, error=str(error))
            await trio.sleep(delay)


class _Stream:
    """One watch stream shared by its reading thread and the trio task that may abandon it.

    A cancel can come while the thread is still connecting: the thread then
    finds the stream abandoned as soon as it is open and drops it, instead
    of reading it (and holding an apiserver connection) until its timeout.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._response: Any = None
        self._abandoned = False
        self.was_opened = False

    def opened(self, response: Any) -> bool:
        """Called by the thread once connected; False if the stream was abandoned meanwhile."""
        with self._lock:
            self.was_opened = True
            self._response = response
            return not self._abandoned

    def abandon(self) -> None:
        with self._lock:
            self._abandoned = True
            response = self._response
        if response is not None:
            response.shutdown()  # unblocks the abandoned thread's read


def _gone_after(status: Mapping[str, Any], path: str) -> Gone:
    """An `ERROR` line of a watch: re-list whatever it says (410 or anything else)."""
    error = error_for(int(status.get("code", 500)), str(status.get("message", "")), "WATCH", path)
    return error if isinstance(error, Gone) else Gone(f"re-list after: {error}")


def _read_stream(
    api: KubeApi,
    path: str,
    params: Mapping[str, str],
    stream: _Stream,
    on_line: Callable[[dict[str, Any]], bool],
) -> None:
    """In a worker thread: one watch request, read to its end (or until abandoned)."""
    response = api.open_stream(path, params)
    try:
        if stream.opened(response):  # else abandoned while connecting: do not read
            stream_lines(response, on_line)
    finally:
        # Close rather than only release: a watch left half-read on a pooled
        # connection stays open on the apiserver until its timeout.
        response.close()
        response.release_conn()


class _Events(AsyncIterator[Any]):
    """The consumer's side of a watch: events in order, then the error that ended it."""

    def __init__(self, receive: trio.MemoryReceiveChannel[Any]) -> None:
        self._receive = receive

    async def __anext__(self) -> Any:
        try:
            item = await self._receive.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None
        if isinstance(item, StoreError):
            raise item
        return item


async def _pump(
    api: KubeApi,
    path: str,
    *,
    query: Mapping[str, str],
    resource_version: str,
    send: trio.MemorySendChannel[Any],
    buffer: int,
    convert: Callable[[RawEvent], Any] | None,
) -> None:
    """Stream after stream from the last version seen, into `send`, until cancelled.

    The reading thread hands each event to the trio loop without waiting for
    it (`run_sync_soon` keeps their order): a thread that waited for every
    hand-over would read no faster than a busy loop can answer.
    """
    version = resource_version
    failure: StoreError | None = None
    token = trio.lowlevel.current_trio_token()
    overflow = threading.Event()
    behind = Gone(f"watch on {path} fell {buffer} events behind; re-list")
    streams: list[_Stream] = []

    def deliver(item: Any) -> None:  # in the trio thread
        if overflow.is_set():
            return
        try:
            send.send_nowait(item)
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            overflow.set()  # too far behind (or the consumer is gone): stop reading now
            if streams:
                streams[-1].abandon()

    def on_line(line: dict[str, Any]) -> bool:
        nonlocal version, failure
        if overflow.is_set():
            failure = behind
            return False
        kind = str(line.get("type", ""))
        obj = line.get("object")
        obj = obj if isinstance(obj, dict) else {}
        if kind == "ERROR":
            failure = _gone_after(obj, path)
            return False
        version = str(obj.get("metadata", {}).get("resourceVersion", version))
        event = RawEvent(kind, strip(obj), version)
        item = event if convert is None else convert(event)
        if item is not None:
            token.run_sync_soon(deliver, item)
        return True

    while failure is None and not overflow.is_set():
        params = {**query, **_WATCH_QUERY, "resourceVersion": version}
        stream = _Stream()
        streams[:] = [stream]
        try:
            await trio.to_thread.run_sync(
                _read_stream, api, path, params, stream, on_line, abandon_on_cancel=True
            )
        except trio.Cancelled:
            stream.abandon()
            raise
        except Unavailable:
            continue  # the api client already backed off for a minute; try again
        except StoreError as error:
            failure = error
        except Exception as error:  # the stream broke mid-read (server restart): resume
            if not stream.was_opened:
                failure = Unavailable(f"watch on {path}: {error}")
    await trio.lowlevel.checkpoint()  # deliveries queued by the thread run before this
    if overflow.is_set() and not isinstance(failure, Gone):
        failure = behind
    await send.send(failure)
