"""The embedded engine: store, scheduler, local Runtime Pods and agents in one trio process.

`krt up` runs it; `kruntimes.Client` talks to it through the store socket.
Nothing here is a demo path: the scheduler loop, the agents and the Runtime
Servers are the ones the Kubernetes deployment runs, only the store
(SQLite instead of the API server) and the Pod manager (local processes
instead of kubelet) differ.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import platformdirs
import structlog
import trio
from attrs import field, frozen

from kruntimes.agent.agent import AgentConfig
from kruntimes.agent.logs import LogStore
from kruntimes.core import Scheduler, SchedulerConfig
from kruntimes.engine.arrays import ArrayController
from kruntimes.engine.dispatch import RunDispatcher
from kruntimes.engine.local_pods import ENGINE_ENV, LocalPods, fence
from kruntimes.engine.scheduler_loop import SchedulerLoop
from kruntimes.model import ObjectMeta, Runtime, RuntimeSpec
from kruntimes.plugin_manager import new_policy
from kruntimes.runtimes.api import LogSink, RuntimeClient
from kruntimes.runtimes.native import connect_when_listening
from kruntimes.store import (
    AlreadyExists,
    EventType,
    MemoryStore,
    NotFound,
    SqliteStore,
    Store,
    StoreServer,
)

log = structlog.get_logger("kruntimes.engine")


def default_state_dir() -> Path:
    return Path(platformdirs.user_state_dir("kruntimes"))


def default_work_root(state_dir: Path) -> Path:
    """Per-attempt scratch directories: on tmpfs when there is one, like an `emptyDir` with
    `medium: Memory`. Creating and removing a directory tree on a disk costs milliseconds
    (measured here: 0.1-1 ms to create, ~10 ms to remove), on tmpfs tens of microseconds."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm / f"kruntimes-{os.getuid()}-{engine_id(state_dir)}" / "work"
    return state_dir / "work"


def engine_id(state_dir: Path) -> str:
    """A short name for the engine that owns `state_dir` (one engine per state dir)."""
    return hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]


def default_runtimes(namespace: str = "default") -> list[Runtime]:
    """The pools that exist out of the box: `bash` and `python`, 2 Pods x 8 Runs each."""
    return [
        Runtime(
            ObjectMeta(name=name, namespace=namespace),
            RuntimeSpec(replicas=2, capacity={"runs": 8}),
        )
        for name in ("bash", "python")
    ]


@frozen
class EngineConfig:
    state_dir: Path = field(factory=default_state_dir)
    persist: bool = True
    """Write through to `<state_dir>/embedded.sqlite3`; False keeps everything in memory."""
    socket_path: Path | None = None
    """Where `krt` and `Client` reach the store; default `<state_dir>/engine.sock`; None with
    `serve=False` serves nothing."""
    serve: bool = True
    namespace: str = "default"
    scheduler: SchedulerConfig = field(factory=SchedulerConfig)
    runtimes: tuple[Runtime, ...] | None = None
    """Runtimes created at start when missing; None: `default_runtimes()`."""
    plugins: tuple[object, ...] = ()
    load_entry_points: bool = True
    heartbeat_interval: float = 5.0
    work_root: Path | None = None
    """Scratch space for Runs; None: `default_work_root(state_dir)`."""

    @property
    def socket(self) -> Path:
        return self.socket_path or self.state_dir / "engine.sock"


async def connect_native(socket: Path, sink: LogSink, proc: trio.Process) -> RuntimeClient:
    """Connect to a freshly started server, waiting for it to listen (or to die trying)."""

    def gone() -> str | None:
        if proc.poll() is None:
            return None
        return f"runtime server exited with code {proc.returncode} before listening"

    return await connect_when_listening(str(socket), sink, gone=gone)


class EmbeddedEngine:
    """Run with `await nursery.start(engine.run)`; `engine.store` is ready once it returns."""

    def __init__(self, config: EngineConfig | None = None, *, store: Store | None = None) -> None:
        self.config = config if config is not None else EngineConfig()
        self._given_store = store
        self.store: Store | None = store
        self.scheduler_loop: SchedulerLoop | None = None
        self.arrays: ArrayController | None = None
        self.pods: LocalPods | None = None

    def _open_store(self) -> Store:
        if self._given_store is not None:
            return self._given_store
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        if self.config.persist:
            return SqliteStore(self.config.state_dir / "embedded.sqlite3")
        return MemoryStore()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        config = self.config
        policy = new_policy(
            config.scheduler, config.plugins, load_entry_points=config.load_entry_points
        )
        registry = policy.runtime_registry()
        store = self.store = self._open_store()
        state = config.state_dir
        try:
            await self._clear_previous_life(store)
            await self._ensure_runtimes(store, config.runtimes)
            dispatcher = RunDispatcher(store, config.namespace)
            self.scheduler_loop = SchedulerLoop(
                store, lambda: Scheduler(policy, config.scheduler), namespace=config.namespace
            )
            self.arrays = ArrayController(store, namespace=config.namespace)
            self.pods = LocalPods(
                store,
                registry,
                dispatcher,
                state_dir=state,
                logs=LogStore(state / "logs"),
                agent_config=AgentConfig(
                    work_root=config.work_root or default_work_root(state),
                    artifact_root=state / "artifacts",
                    heartbeat_interval=config.heartbeat_interval,
                ),
                connect=connect_native,
                classify=policy.classify_failure,
                retryable=policy.is_retryable,
                namespace=config.namespace,
                engine_id=engine_id(state),
                clock=time.time,
            )
            async with trio.open_nursery() as nursery:
                if config.serve:
                    await nursery.start(StoreServer(store, config.socket).serve)
                await nursery.start(self.scheduler_loop.run)
                await nursery.start(self.arrays.run)
                await nursery.start(dispatcher.run)
                await nursery.start(self.pods.run)
                log.info("engine started", state_dir=str(state), socket=str(config.socket))
                task_status.started(self)
        finally:
            if self._given_store is None:
                with trio.CancelScope(shield=True):
                    await store.aclose()

    async def _clear_previous_life(self, store: Store) -> None:
        """After a crash: kill what the dead engine's servers left running, forget its Pods.

        Their Runs then look like Runs on gone Pods and are retried (or fail)
        per policy; nothing they ran is still running when that happens.
        """
        killed = await trio.to_thread.run_sync(fence, engine_id(self.config.state_dir), ENGINE_ENV)
        if killed:
            log.warning("killed processes left by a previous engine", pids=killed)
        for pod in (await store.list_pods(self.config.namespace)).items:
            with contextlib.suppress(NotFound):
                await store.delete_pod(pod.namespace, pod.name)

    async def _ensure_runtimes(self, store: Store, runtimes: Iterable[Runtime] | None) -> None:
        wanted = default_runtimes(self.config.namespace) if runtimes is None else runtimes
        for runtime in wanted:
            with contextlib.suppress(AlreadyExists):
                await store.create(runtime)

    async def wait_until_ready(self, *, pods: int | None = None) -> None:
        """Wait until `pods` Runtime Pods (default: every replica) heartbeat, by watching."""
        store = self.store
        assert store is not None
        namespace = self.config.namespace
        if pods is None:
            runtimes = await store.list_runtimes(namespace)
            pods = sum(r.spec.replicas for r in runtimes.items)
        listing = await store.list_pods(namespace)
        ready = {p.name for p in listing.items if p.heartbeat is not None}
        if len(ready) >= pods:
            return
        async with store.watch_pods(listing.resource_version, namespace) as events:
            async for event in events:
                pod = event.object
                if pod is None:
                    continue
                if event.type is not EventType.DELETED and pod.heartbeat is not None:
                    ready.add(pod.name)
                else:
                    ready.discard(pod.name)
                if len(ready) >= pods:
                    return
