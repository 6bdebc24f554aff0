"""The agent in a Runtime Pod: the embedded engine's `Agent`, on the Kubernetes store.

The Runtime controller injects it as the `kruntimes-agent` sidecar. It finds
its own Pod (`POD_NAME`, else `HOSTNAME`) to learn its uid and capacity,
connects to the Runtime Server in the same Pod (the native protocol on a
shared Unix socket for the built-in servers, else upstream gRPC on
localhost), then heartbeats through the Pod's `kruntimes.io/RuntimedReady`
condition and executes the Runs bound to it. Health: `/healthz` answers while
the process lives, `/readyz` once the agent heartbeats.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import structlog
import trio
from attrs import frozen

from kruntimes.adapters.kubernetes.api import KubeApi
from kruntimes.adapters.kubernetes.pods import pod_from_v1
from kruntimes.adapters.kubernetes.store import KubeStore
from kruntimes.agent.agent import Agent, AgentConfig
from kruntimes.agent.logs import LogStore
from kruntimes.model import RuntimePod
from kruntimes.runtimes.api import ForwardingSink, RuntimeClient
from kruntimes.runtimes.grpc_compat import GrpcRuntimeClient
from kruntimes.runtimes.native import connect_when_listening
from kruntimes.store.follow import follow

log = structlog.get_logger("kruntimes.pod_agent")

SOCKET_WAIT_SECONDS = 120.0
"""How long the agent waits for the runtime container to listen before it gives up."""


class PodAgentError(Exception):
    """The agent cannot start: its Pod, its namespace or its Runtime Server is missing."""


@frozen
class PodAgentConfig:
    pod_name: str
    namespace: str
    work_root: Path
    runtime_socket: Path | None = None
    """The built-in servers' native protocol; preferred when set."""
    runtime_grpc: str | None = None
    """`host:port` of an upstream `executor.v1` gRPC Runtime Server."""
    heartbeat_interval: float = 5.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PodAgentConfig:
        """From the variables the Runtime controller sets on the sidecar."""
        env = os.environ if environ is None else environ
        pod = env.get("POD_NAME") or env.get("HOSTNAME")
        namespace = env.get("POD_NAMESPACE")
        missing = [
            n for n, v in (("POD_NAME or HOSTNAME", pod), ("POD_NAMESPACE", namespace)) if not v
        ]
        socket, grpc = env.get("KRUNTIMES_RUNTIME_SOCKET"), env.get("KRUNTIMES_RUNTIME_GRPC")
        if not socket and not grpc:
            missing.append("KRUNTIMES_RUNTIME_SOCKET or KRUNTIMES_RUNTIME_GRPC")
        if missing:
            raise PodAgentError(f"set {', '.join(missing)} in the agent's environment")
        return cls(
            pod_name=str(pod),
            namespace=str(namespace),
            work_root=Path(env.get("KRUNTIMES_WORK_ROOT", "/workspace")),
            runtime_socket=Path(socket) if socket else None,
            runtime_grpc=grpc or None,
            heartbeat_interval=float(env.get("KRUNTIMES_HEARTBEAT_INTERVAL", "5")),
        )


async def own_pod(api: KubeApi, config: PodAgentConfig) -> RuntimePod:
    """This agent's Pod as the scheduler sees it (uid, capacity, runtime label)."""
    path = f"/api/v1/namespaces/{config.namespace}/pods/{config.pod_name}"
    pod = pod_from_v1(await api.request("GET", path))
    if pod is None:
        raise PodAgentError(
            f"Pod {config.namespace}/{config.pod_name} has no `runtime` label: "
            "the agent only runs in Runtime Pods"
        )
    return pod


async def connect_runtime(config: PodAgentConfig, sink: ForwardingSink) -> RuntimeClient:
    """Connect to the Runtime Server of this Pod, waiting while its container starts."""
    if config.runtime_socket is None:
        assert config.runtime_grpc is not None
        return GrpcRuntimeClient(config.runtime_grpc)
    with trio.move_on_after(SOCKET_WAIT_SECONDS):
        return await connect_when_listening(str(config.runtime_socket), sink)
    raise PodAgentError(f"no Runtime Server listens on {config.runtime_socket}")


class PodAgent:
    """Run with `await nursery.start(PodAgent(api, config).run)`; `ready` once it heartbeats."""

    def __init__(self, api: KubeApi, config: PodAgentConfig) -> None:
        self.api = api
        self.config = config
        self.agent: Agent | None = None
        self.ready = False

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        config = self.config
        pod = await own_pod(self.api, config)
        sink = ForwardingSink()
        client = await connect_runtime(config, sink)
        root = config.work_root
        agent = self.agent = Agent(
            KubeStore(self.api),
            pod,
            client,
            LogStore(root / "logs"),
            AgentConfig(
                work_root=root / "runs",
                artifact_root=root / "artifacts",
                heartbeat_interval=config.heartbeat_interval,
            ),
            clock=time.time,
        )
        sink.target = agent.log_sink
        log.info("agent starting", pod=pod.name, namespace=pod.namespace, uid=pod.uid)
        store = agent.store
        assert isinstance(store, KubeStore)

        def mine(document: Mapping[str, Any]) -> bool:
            """Bound to this Pod, or running here (then every change matters: cancel, reap)."""
            status = document.get("status") or {}
            if status.get("assignedPod") == pod.name:
                return True
            meta = document.get("metadata") or {}
            return agent.is_active((str(meta.get("namespace")), str(meta.get("name"))))

        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(
                    lambda task_status: agent.run(watch=False, task_status=task_status)
                )
                await nursery.start(
                    partial(
                        follow,
                        store.list_runs,
                        lambda rv, ns: store.watch_runs_where(rv, ns, mine),
                        pod.namespace,
                        lambda run, deleted: agent.offer(run, deleted=deleted),
                    )
                )
                self.ready = True
                task_status.started(self)
        finally:
            self.ready = False
            with trio.CancelScope(shield=True):
                await client.aclose()
