"""Saturate a pool with several backlogged RunQueues and see how it is shared.

`saturate` is what the fairness tests (and `AdmissionPolicyContract`) use: every
queue has more Runs than the pool has slots, and slots free up one at a time, so
each freed slot goes to whichever queue the scheduler ranks first. After enough
rounds the pool is held in the proportions the share policy converges to
(`weight / sum of weights` for the built-in weighted dominant-resource fairness).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from kruntimes.core import Bind, QueueUpserted, Scheduler
from kruntimes.testing.builders import DEFAULT_NAMESPACE, make_pod, make_queue, make_run

SATURATE_AT = 1_000.0


def saturate(
    scheduler: Scheduler,
    weights: Mapping[str, float],
    *,
    pods: int = 2,
    slots_per_pod: int = 30,
    rounds: int = 300,
    runtime: str = "bash",
    namespace: str = DEFAULT_NAMESPACE,
) -> dict[str, float]:
    """Each queue's fraction of the pool's slots after `rounds` single-slot releases.

    The oldest bound Run finishes first (FIFO), so a queue cannot hold its slots
    longer than the others by being lucky.
    """
    for i in range(pods):
        scheduler.pod_upserted(
            make_pod(
                f"sat-{i}",
                runtime,
                namespace=namespace,
                capacity={"runs": slots_per_pod},
                heartbeat=SATURATE_AT,
            )
        )
    backlog = pods * slots_per_pod + rounds
    for name, weight in weights.items():
        scheduler.handle(QueueUpserted(make_queue(name, namespace=namespace, weight=weight)))
        for i in range(backlog):
            scheduler.run_upserted(
                make_run(f"{name}-{i:05d}", runtime, namespace=namespace, queue=name)
            )
    holding = _binds(scheduler, SATURATE_AT)
    for step in range(rounds):
        oldest = holding.pop(0)
        scheduler.run_deleted(oldest)
        holding += _binds(scheduler, SATURATE_AT + step * 1e-3)  # Pods stay fresh
    held = Counter(key[1].rsplit("-", 1)[0] for key in holding)
    total = sum(held.values())
    return {name: held[name] / total for name in weights}


def _binds(scheduler: Scheduler, now: float) -> list[tuple[str, str]]:
    return [d.run for d in scheduler.cycle(now).decisions if isinstance(d, Bind)]


def expected_shares(weights: Mapping[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {name: weight / total for name, weight in weights.items()}


__all__ = ["expected_shares", "saturate"]
