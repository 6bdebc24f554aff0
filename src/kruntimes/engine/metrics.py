"""Prometheus metrics of the scheduler loop (names from the Go project, bounded labels).

Each loop gets its own `CollectorRegistry` unless one is passed, so two
schedulers in one process (tests, simulations) never share counters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from kruntimes.core import Plan

_FAST = (0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0)


class SchedulerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.syncs = Counter(
            "kruntimes_scheduler_sync", "Scheduling cycles by result.", ["result"], registry=r
        )
        self.sync_seconds = Histogram(
            "kruntimes_scheduler_sync_duration_seconds",
            "Time in the core per cycle.",
            buckets=_FAST,
            registry=r,
        )
        self.queue_seconds = Histogram(
            "kruntimes_scheduler_run_queue_duration_seconds",
            "From Run creation to its bind decision.",
            registry=r,
        )
        self.rejections = Counter(
            "kruntimes_scheduler_filter_rejections",
            "Runs kept waiting, by reason code.",
            ["plugin", "reason"],
            registry=r,
        )
        self.write_conflicts = Counter(
            "kruntimes_scheduler_reservation_conflicts",
            "Decisions whose conditional write failed.",
            ["stage"],
            registry=r,
        )
        self.wakeups = Counter(
            "kruntimes_scheduler_pending_run_wakeups",
            "Pools woken for pending Runs, by source.",
            ["source"],
            registry=r,
        )
        self.relists = Counter(
            "kruntimes_scheduler_relists", "Full re-lists after an expired watch.", registry=r
        )

    def observe_cycle(self, plan: Plan, seconds: float) -> None:
        self.sync_seconds.observe(seconds)
        binds = plan.binds
        self.syncs.labels(
            result="bound" if binds else ("decided" if plan.decisions else "idle")
        ).inc()
        for wait in plan.waits:
            self.rejections.labels(plugin="core", reason=wait.reason.code.value).inc()
