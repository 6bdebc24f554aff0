"""Waiting for Runs to finish by watching the store: one watch, however many Runs.

A wait takes a resource version first, then reads the Runs, then watches
from that version: every change after the read is replayed (with a few
before it, which do no harm), whatever version the read itself reports. A
`Gone` (the version is too old, or the watcher fell behind) starts over.
"""

from __future__ import annotations

from collections.abc import Callable

from kruntimes.model import Run, RuntimePod
from kruntimes.store import EventType, Gone, NotFound, Store, Unavailable

OnDone = Callable[[Run], None]


async def fresh_version(store: Store, namespace: str) -> str:
    """A current resource version, from the cheapest listing there is (Runtimes are few)."""
    return (await store.list_runtimes(namespace)).resource_version


async def current_runs(
    store: Store, namespace: str, names: list[str]
) -> tuple[dict[str, Run], str]:
    """The Runs called `names` and a version to watch from; `NotFound` if one is missing."""
    rv = await fresh_version(store, namespace)
    if len(names) == 1:
        return {names[0]: await store.get_run(namespace, names[0])}, rv
    by_name = {run.metadata.name: run for run in (await store.list_runs(namespace)).items}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise NotFound(f"Run {namespace}/{missing[0]} not found")
    return {name: by_name[name] for name in names}, rv


async def until_terminal(
    store: Store, namespace: str, names: list[str], on_done: OnDone | None = None
) -> dict[str, Run]:
    """Every Run in `names` in a terminal phase; `on_done` is called as each gets there."""
    done: dict[str, Run] = {}
    pending: dict[str, Run] = {}

    def settle(run: Run) -> None:
        name = run.metadata.name
        if name in pending and run.status.phase.is_terminal:
            del pending[name]
            done[name] = run
            if on_done is not None:
                on_done(run)

    wanted = list(dict.fromkeys(names))
    while True:
        pending, rv = await current_runs(store, namespace, [n for n in wanted if n not in done])
        for run in list(pending.values()):
            settle(run)
        if not pending:
            return done
        try:
            async with store.watch_runs(rv, namespace) as events:
                async for event in events:
                    changed = event.object
                    if changed is None or changed.metadata.name not in pending:
                        continue
                    settle(changed)
                    if not pending:
                        return done
                    if event.type is EventType.DELETED and changed.metadata.name in pending:
                        raise NotFound(f"Run {namespace}/{changed.metadata.name} was deleted")
            raise Unavailable("the store ended the watch")
        except Gone:
            continue


async def until_pods_ready(store: Store, namespace: str, runtime: str) -> list[RuntimePod]:
    """The Pods of `runtime` once `spec.replicas` of them have a heartbeat."""
    while True:
        rv = await fresh_version(store, namespace)
        wanted = (await store.get_runtime(namespace, runtime)).spec.replicas
        listing = await store.list_pods(namespace)
        pods = {p.name: p for p in listing.items if p.runtime == runtime}
        try:
            async with store.watch_pods(rv, namespace) as events:
                while sum(p.heartbeat is not None for p in pods.values()) < wanted:
                    event = await anext(aiter(events), None)
                    if event is None:
                        raise Unavailable("the store ended the watch")
                    pod = event.object
                    if pod is None or pod.runtime != runtime:
                        continue
                    if event.type is EventType.DELETED:
                        pods.pop(pod.name, None)
                    else:
                        pods[pod.name] = pod
            return sorted((p for p in pods.values() if p.heartbeat is not None), key=_name)
        except Gone:
            continue


def _name(pod: RuntimePod) -> str:
    return pod.name
