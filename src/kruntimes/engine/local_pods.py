"""Local Runtime Pods: each replica of a Runtime is a Runtime Server process plus an agent.

The embedded engine's stand-in for a Deployment and kubelet. For every
`Runtime` it keeps `spec.replicas` Pods alive: start the server for the
Runtime's kind (from the runtime registry), connect, publish a `RuntimePod`,
run its agent. When a server process dies the Pod is deleted (the scheduler
reaps its Runs: retried per policy) and replaced by a new process with a new
UID, after a short backoff that grows while it keeps crashing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog
import trio

from kruntimes.agent.agent import Agent, AgentConfig
from kruntimes.agent.execution import Classify, Retryable
from kruntimes.agent.logs import LogStore
from kruntimes.engine.dispatch import RunDispatcher
from kruntimes.model import RUNTIME_LABEL, Runtime, RuntimePod
from kruntimes.registry import RuntimeKind, RuntimeRegistry
from kruntimes.runtimes.api import ForwardingSink, LogSink, RuntimeClient, RuntimeError_
from kruntimes.store.follow import follow
from kruntimes.store.port import NotFound, Store

log = structlog.get_logger("kruntimes.pods")

KIND_LABEL = "kruntimes.io/kind"
"""Label on a Runtime naming its runtime kind; default: the Runtime's own name."""
POD_UID_ENV = "KRUNTIMES_POD_UID"
"""Set for every Runtime Server process, inherited by all it starts (see `fence`)."""
ENGINE_ENV = "KRUNTIMES_ENGINE"
"""Names the engine (its state directory) that started a server, for fencing after a crash."""
PRELOAD_ANNOTATION = "kruntimes.io/preload"
"""Annotation on a python Runtime: comma-separated modules its servers import once."""

Connect = Callable[[Path, LogSink, trio.Process], Awaitable[RuntimeClient]]


class LocalPods:
    def __init__(
        self,
        store: Store,
        registry: RuntimeRegistry,
        dispatcher: RunDispatcher,
        *,
        state_dir: Path,
        logs: LogStore,
        agent_config: AgentConfig,
        connect: Connect,
        classify: Classify | None = None,
        retryable: Retryable | None = None,
        namespace: str = "default",
        engine_id: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine_id = engine_id
        self._store = store
        self._registry = registry
        self._dispatcher = dispatcher
        self._state_dir = state_dir
        self._logs = logs
        self._agent_config = agent_config
        self._connect = connect
        self._classify = classify
        self._retryable = retryable
        self._namespace = namespace
        self._clock = clock
        self._replicas: dict[tuple[str, int], trio.CancelScope] = {}
        self._runtimes: dict[str, Runtime] = {}
        self.servers: dict[str, trio.Process] = {}
        """Live Runtime Server processes by Pod name (for operators and chaos tests)."""
        self.restarts = 0

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Reconcile Runtimes into Pods until cancelled."""
        (self._state_dir / "sockets").mkdir(parents=True, exist_ok=True)
        async with trio.open_nursery() as nursery:
            await follow(
                self._store.list_runtimes,
                self._store.watch_runtimes,
                self._namespace,
                lambda runtime, deleted: self._reconcile(nursery, runtime, deleted=deleted),
                task_status=task_status,
            )

    def _reconcile(self, nursery: trio.Nursery, runtime: Runtime, *, deleted: bool = False) -> None:
        name = runtime.metadata.name
        wanted = 0 if deleted else runtime.spec.replicas
        old = self._runtimes.get(name)
        self._runtimes[name] = runtime
        changed = old is not None and (
            old.spec != runtime.spec or old.metadata.labels != runtime.metadata.labels
        )
        for (rt, index), scope in list(self._replicas.items()):
            if rt == name and (index >= wanted or changed):
                scope.cancel()  # scale down, or roll out a changed spec
                del self._replicas[(rt, index)]
        for index in range(wanted):
            if (name, index) not in self._replicas:
                scope = trio.CancelScope()
                self._replicas[(name, index)] = scope
                nursery.start_soon(self._replica, name, index, scope)

    def kind_of(self, runtime: Runtime) -> RuntimeKind:
        return self._registry.get(runtime.metadata.labels.get(KIND_LABEL, runtime.metadata.name))

    def command(self, runtime: Runtime, kind: RuntimeKind, socket: Path) -> list[str]:
        capacity = self._capacity(runtime, kind)
        preload = runtime.metadata.annotations.get(PRELOAD_ANNOTATION, "")
        return [
            arg.format(socket=socket, capacity=capacity.get("runs", 1), preload=preload)
            for arg in kind.command
            if not (arg == "--preload" and not preload) and not (arg == "{preload}" and not preload)
        ]

    @staticmethod
    def _capacity(runtime: Runtime, kind: RuntimeKind) -> dict[str, int]:
        return dict(runtime.spec.capacity or kind.default_capacity)

    async def _replica(self, name: str, index: int, scope: trio.CancelScope) -> None:
        backoff = 0.05
        with scope:
            while True:
                began = trio.current_time()
                try:
                    await self._one_life(self._runtimes[name], index)
                except (OSError, trio.TooSlowError, RuntimeError_) as exc:
                    log.warning("runtime pod failed", runtime=name, index=index, error=str(exc))
                except Exception:  # one broken Pod must never take the engine down
                    log.exception("runtime pod crashed", runtime=name, index=index)
                self.restarts += 1
                backoff = 0.05 if trio.current_time() - began > 10 else min(backoff * 2, 5.0)
                await trio.sleep(backoff)

    async def _one_life(self, runtime: Runtime, index: int) -> None:
        kind = self.kind_of(runtime)
        ns, rt = runtime.metadata.namespace, runtime.metadata.name
        pod_name = f"{rt}-{index}"
        socket = self._state_dir / "sockets" / f"{ns}.{pod_name}.sock"
        socket.unlink(missing_ok=True)
        uid = uuid.uuid4().hex
        env = {**os.environ, POD_UID_ENV: uid, ENGINE_ENV: self.engine_id}
        proc = await trio.lowlevel.open_process(self.command(runtime, kind, socket), env=env)
        agent: Agent | None = None
        self.servers[pod_name] = proc
        try:
            pod = RuntimePod(
                name=pod_name,
                runtime=rt,
                namespace=ns,
                uid=uid,
                labels={RUNTIME_LABEL: rt},
                capacity=self._capacity(runtime, kind),
                ready=True,
            )
            sink = ForwardingSink()
            with trio.fail_after(30):
                client = await self._connect(socket, sink, proc)
            agent = Agent(
                self._store,
                pod,
                client,
                self._logs,
                self._agent_config,
                classify=self._classify,
                retryable=self._retryable,
                clock=self._clock,
            )
            sink.target = agent.log_sink
            self._dispatcher.attach(agent)  # before the Pod exists: no bound Run is missed
            await self._store.put_pod(pod)
            async with trio.open_nursery() as nursery:
                await nursery.start(
                    lambda task_status: agent.run(watch=False, task_status=task_status)
                )
                await proc.wait()
                log.warning("runtime server exited", pod=pod_name, code=proc.returncode)
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                if self.servers.get(pod_name) is proc:
                    del self.servers[pod_name]
                if agent is not None:
                    self._dispatcher.detach(agent)
                    await agent.client.aclose()
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
                killed = await trio.to_thread.run_sync(fence, uid)
                if killed:
                    log.warning("killed processes the dead server left", pod=pod_name, pids=killed)
                with contextlib.suppress(NotFound):
                    await self._store.delete_pod(ns, pod_name)


def fence(value: str, variable: str = POD_UID_ENV) -> list[int]:
    """SIGKILL every process whose environment has `variable=value`; return their pids.

    A Runtime Server that dies (or is killed) leaves its Runs' processes
    behind: bash process groups, forked python workers in their own sessions.
    Before their Runs are retried elsewhere, those must be gone, or an
    execution would run twice at once. Every process a server starts inherits
    `KRUNTIMES_POD_UID` (and `KRUNTIMES_ENGINE`, for a whole engine that was
    killed), so scanning `/proc` finds them without help from the dead server.
    """
    marker = f"{variable}={value}".encode()
    killed = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue  # gone already, or not ours to read
        if marker in environ:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
    return killed
