"""Batches: many store calls with bounded concurrency, and `apply` (create or update).

A failed item does not stop the others; the caller gets every failure with its
index. Only `Unavailable` stops a batch at once, as no other item would fare better.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import trio
from attrs import evolve

from kruntimes.client._types import Action, Applied, BatchError
from kruntimes.codec import (
    FieldError,
    ValidationError,
    validate_run,
    validate_run_queue,
    validate_runtime,
)
from kruntimes.model import Run, RunQueue, Runtime
from kruntimes.store import AlreadyExists, Conflict, Store, StoreError, Unavailable
from kruntimes.store.port import Obj

T = TypeVar("T")
Progress = Callable[[int, int], None]
"""`(done, total)`, called after each item of a batch."""
CONFLICT_RETRIES = 50


async def gather(
    calls: Sequence[Callable[[], Awaitable[T]]],
    concurrency: int,
    on_progress: Progress | None = None,
) -> tuple[list[T | None], list[tuple[int, Exception]]]:
    """Results in input order (None where failed) and the failures, by input index."""
    results: list[T | None] = [None] * len(calls)
    errors: list[tuple[int, Exception]] = []
    fatal: list[Unavailable] = []
    limiter = trio.CapacityLimiter(max(1, concurrency))
    done = 0

    async def one(i: int, scope: trio.CancelScope) -> None:
        nonlocal done
        async with limiter:
            try:
                results[i] = await calls[i]()
            except Unavailable as exc:
                fatal.append(exc)
                scope.cancel()
                return
            except (ValidationError, StoreError) as exc:
                errors.append((i, exc))
        done += 1
        if on_progress is not None:
            on_progress(done, len(calls))

    async with trio.open_nursery() as nursery:
        for i in range(len(calls)):
            nursery.start_soon(one, i, nursery.cancel_scope)
    if fatal:
        raise fatal[0]
    errors.sort(key=lambda e: e[0])
    return results, errors


def _problems(obj: Run | Runtime | RunQueue) -> tuple[FieldError, ...]:
    if isinstance(obj, Run):
        return validate_run(obj)
    if isinstance(obj, Runtime):
        return validate_runtime(obj)
    return validate_run_queue(obj)


async def apply_objects(
    store: Store,
    items: list[Run | Runtime | RunQueue],
    concurrency: int,
    on_progress: Progress | None = None,
) -> list[Applied]:
    """`AsyncClient.apply`: validate all, then Runtimes and RunQueues one by one (in input
    order), then Runs concurrently."""
    problems: list[FieldError] = []
    for i, obj in enumerate(items):
        problems += [e.under(f"[{i}]") for e in _problems(obj)]
    if problems:
        raise ValidationError(problems)
    results: list[Applied | None] = [None] * len(items)
    errors: list[tuple[int, Exception]] = []
    finished = 0

    def progress(done: int, total: int) -> None:
        if on_progress is not None:
            on_progress(finished + done, len(items))

    for runs_part in (False, True):
        part = [i for i, obj in enumerate(items) if isinstance(obj, Run) is runs_part]
        calls = [functools.partial(_apply_one, store, items[i]) for i in part]
        part_results, part_errors = await gather(calls, concurrency if runs_part else 1, progress)
        for k, i in enumerate(part):
            results[i] = part_results[k]
        errors += [(part[k], exc) for k, exc in part_errors]
        finished += len(part)
    if errors:
        errors.sort(key=lambda e: e[0])
        raise BatchError([r for r in results if r is not None], errors)
    return [r for r in results if r is not None]


async def _apply_one(store: Store, obj: Run | Runtime | RunQueue) -> Applied:
    if isinstance(obj, Run):
        return await _upsert(store, obj, store.get_run)
    if isinstance(obj, Runtime):
        return await _upsert(store, obj, store.get_runtime)
    return await _upsert(store, obj, store.get_run_queue)


async def _upsert(store: Store, obj: Obj, read: Callable[[str, str], Awaitable[Obj]]) -> Applied:
    """Create `obj`, or make the stored one's spec, labels and annotations equal to its."""
    try:
        return Applied(Action.CREATED, await store.create(obj))
    except AlreadyExists:
        pass
    ns, name = obj.metadata.namespace, obj.metadata.name
    for _ in range(CONFLICT_RETRIES):
        current = await read(ns, name)
        meta = evolve(
            current.metadata, labels=obj.metadata.labels, annotations=obj.metadata.annotations
        )
        if current.spec == obj.spec and meta == current.metadata:
            return Applied(Action.UNCHANGED, current)
        try:
            updated = await store.update_spec(evolve(current, metadata=meta, spec=obj.spec))
        except Conflict:
            continue
        return Applied(Action.CONFIGURED, updated)
    raise Conflict(f"{type(obj).__name__} {ns}/{name} kept changing; apply did not land")
