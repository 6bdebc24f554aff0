"""One Run watch for every local agent: each Run version goes to the agent of its Pod.

In the embedded engine all agents live in one process; letting each watch
every Run would multiply every write by the number of Pods. The dispatcher
watches once and routes by `status.assignedPod` (O(1) per event).
"""

from __future__ import annotations

from typing import Any

import structlog
import trio

from kruntimes.agent.agent import Agent
from kruntimes.store.follow import follow
from kruntimes.store.port import Store

log = structlog.get_logger("kruntimes.dispatch")


class RunDispatcher:
    def __init__(self, store: Store, namespace: str | None = None) -> None:
        self._store = store
        self._namespace = namespace
        self._agents: dict[tuple[str, str], Agent] = {}
        self._pod_of: dict[tuple[str, str], str] = {}
        """Where each Run was last routed, so an agent also hears that it lost a Run."""

    def attach(self, agent: Agent) -> None:
        self._agents[agent.pod.key] = agent

    def detach(self, agent: Agent) -> None:
        if self._agents.get(agent.pod.key) is agent:
            del self._agents[agent.pod.key]

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        await follow(
            self._store.list_runs,
            self._store.watch_runs,
            self._namespace,
            lambda run, deleted: self._route(run, deleted=deleted),
            task_status=task_status,
        )

    def _route(self, run: Any, *, deleted: bool) -> None:
        key = run.key
        pod = run.status.assigned_pod
        previous = self._pod_of.pop(key, None)
        if pod is not None and not deleted and not run.status.phase.is_terminal:
            self._pod_of[key] = pod
        for name in {previous, pod} - {None}:
            agent = self._agents.get((run.metadata.namespace, name))
            if agent is not None:
                try:
                    agent.offer(run, deleted=deleted)
                except Exception:  # one agent's bug must not stop the others' Runs
                    log.exception("agent refused a Run", pod=name, run=key)
