"""Knobs of one scheduler instance. Plain values; plugins read them, nothing mutates them."""

from __future__ import annotations

from collections.abc import Mapping

from attrs import field, frozen


@frozen
class SchedulerConfig:
    ordering: str = "least-loaded"
    """Name of the Pod ordering that walks candidates best-first (`least-loaded` spreads,
    `most-allocated` bin-packs; plugins may add more through `kruntimes_pod_orders`)."""
    candidates_to_score: int | None = None
    """How many feasible Pods, best-first, are offered to score hooks. None: 1 when only the
    ordering's own scorer is active (the ordering already is the score), else 8. Like
    kube-scheduler's percentageOfNodesToScore, it bounds the cost of a decision."""
    score_weights: Mapping[str, int] = field(factory=dict)
    """Weight per score name (`ScoreResult.name`); unnamed scores weigh 1."""
    heartbeat_fresh_seconds: float = 15.0
    """A Pod whose agent heartbeat is older than this gets no new Runs."""
    stale_after_seconds: float = 30.0
    """A Pod unhealthy (not ready or heartbeat this old) for this long loses its Runs."""
    terminating_grace_seconds: float = 30.0
    """Running Runs on a deleting Pod may finish for this long before they are requeued."""
    disabled_plugins: tuple[str, ...] = field(default=(), converter=tuple)
    """Plugin names (as registered) to leave out, built-in ones included."""
    admission: bool = True
    """Admit Runs through their RunQueues (quota, fair share, cohorts, gangs); False places
    every pending Run of a pool by priority alone, ignoring `spec.queue` and `spec.gang`."""
    priority_classes: Mapping[str, int] = field(factory=dict)
    """Priority of each `spec.priorityClassName`; a Run naming another class fails with
    reason `UnknownPriorityClass`, unless a `kruntimes_run_priority` plugin resolves it."""
