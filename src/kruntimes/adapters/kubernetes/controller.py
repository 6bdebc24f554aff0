"""The kruntimes controller on Kubernetes: scheduler, Runtime, array and Run GC controllers.

Everything that writes decisions runs only while this replica holds the
leader Lease, so two replicas never both schedule: the standby keeps its
probes up and waits. The scheduler is the same `SchedulerLoop` as in the
embedded engine, on the Kubernetes store; its stale-Run detection (Pods gone,
terminating or silent) is the reaper. `reference_deployment/entrypoints/
controller.py` turns flags into a `ControllerOptions` and calls `run`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import structlog
import trio
from attrs import field, frozen
from prometheus_client import CollectorRegistry

from kruntimes.adapters.kubernetes.api import KubeApi
from kruntimes.adapters.kubernetes.leader import LeaderElector, LeaseConfig
from kruntimes.adapters.kubernetes.probes import ProbeServer, parse_bind_address
from kruntimes.adapters.kubernetes.run_gc import RunGC
from kruntimes.adapters.kubernetes.runtime_controller import RuntimeController
from kruntimes.adapters.kubernetes.runtime_objects import AgentSettings
from kruntimes.adapters.kubernetes.store import KubeStore
from kruntimes.core import Scheduler, SchedulerConfig
from kruntimes.engine.arrays import ArrayController
from kruntimes.engine.metrics import SchedulerMetrics
from kruntimes.engine.scheduler_loop import SchedulerLoop
from kruntimes.plugin_manager import new_policy

log = structlog.get_logger("kruntimes.controller")


@frozen
class ControllerOptions:
    namespaces: tuple[str, ...] = ()
    """Namespaces to watch; empty: all of them."""
    leader_elect: bool = True
    leader_election_namespace: str = "default"
    lease_name: str = "kruntimes-controller"
    identity: str | None = None
    metrics_bind_address: str = ":8080"
    """`host:port`; `0` (or `:0`) picks a free port, `""` serves no metrics."""
    health_probe_bind_address: str = ":8081"
    agent: AgentSettings = field(factory=AgentSettings)
    scheduler: SchedulerConfig = field(factory=SchedulerConfig)
    plugins: tuple[object, ...] = ()
    load_entry_points: bool = True
    run_runtime_controller: bool = True
    run_gc: bool = True
    run_arrays: bool = True
    """Turn array Runs (`spec.array`) into their indexed child Runs."""
    write_concurrency: int = 32
    """Status writes in flight at once (binds of one cycle go to the apiserver together)."""


class Controller:
    """Start with `await nursery.start(controller.run)`; `leading` says whether it leads now."""

    def __init__(self, api: KubeApi, options: ControllerOptions | None = None) -> None:
        self.api = api
        self.options = options if options is not None else ControllerOptions()
        self.store = KubeStore(api)
        self.registry = CollectorRegistry()
        self.scheduler_metrics = SchedulerMetrics(self.registry)
        self.scheduler_loops: list[SchedulerLoop] = []
        self.runtime_controllers: list[RuntimeController] = []
        self.array_controllers: list[ArrayController] = []
        self.leading = False
        self.elector: LeaderElector | None = None
        self.probes: list[ProbeServer] = []

    @property
    def _scopes(self) -> Sequence[str | None]:
        return self.options.namespaces or (None,)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        options = self.options
        try:
            self._serve_probes()
            if not options.leader_elect:
                await self._lead(task_status)
                return
            identity = options.identity
            lease = (
                LeaseConfig.for_this_process(options.leader_election_namespace, options.lease_name)
                if identity is None
                else LeaseConfig(options.leader_election_namespace, options.lease_name, identity)
            )
            self.elector = LeaderElector(self.api, lease)
            task_status.started(self)
            await self.elector.run(lambda: self._lead(trio.TASK_STATUS_IGNORED))
        finally:
            for probe in self.probes:
                probe.close()

    async def _lead(self, task_status: Any) -> None:
        """Everything that writes: only while this replica leads."""
        options = self.options
        policy = new_policy(
            options.scheduler, options.plugins, load_entry_points=options.load_entry_points
        )
        self.scheduler_loops = [
            SchedulerLoop(
                self.store,
                lambda: Scheduler(policy, options.scheduler),
                namespace=scope,
                metrics=self.scheduler_metrics,
                write_concurrency=options.write_concurrency,
            )
            for scope in self._scopes
        ]
        self.runtime_controllers = []
        self.array_controllers = []
        try:
            async with trio.open_nursery() as nursery:
                for loop in self.scheduler_loops:
                    await nursery.start(loop.run)
                for scope in self._scopes:
                    if options.run_runtime_controller:
                        runtimes = RuntimeController(
                            self.api,
                            self.store,
                            options.agent,
                            namespace=scope,
                            registry=self.registry,
                        )
                        self.runtime_controllers.append(runtimes)
                        await nursery.start(runtimes.run)
                    if options.run_gc:
                        gc = RunGC(self.store, namespace=scope, registry=self.registry)
                        await nursery.start(gc.run)
                    if options.run_arrays:
                        arrays = ArrayController(self.store, namespace=scope)
                        self.array_controllers.append(arrays)
                        await nursery.start(arrays.run)
                self.leading = True
                log.info("leading", namespaces=list(options.namespaces) or "all")
                task_status.started(self)
        finally:
            self.leading = False

    def _serve_probes(self) -> None:
        options = self.options
        with contextlib.ExitStack() as stack:
            if options.metrics_bind_address:
                host, port = parse_bind_address(options.metrics_bind_address)
                probe = ProbeServer(host, port, registry=self.registry)
                stack.callback(probe.close)
                self.probes.append(probe)
            if options.health_probe_bind_address:
                host, port = parse_bind_address(options.health_probe_bind_address)
                self.probes.append(ProbeServer(host, port, ready=lambda: True))
            stack.pop_all()
