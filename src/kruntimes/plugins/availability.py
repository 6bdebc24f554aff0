"""Availability: a Pod takes new Runs only when ready, not deleting, and heartbeating."""

from __future__ import annotations

from kruntimes.core.config import SchedulerConfig
from kruntimes.core.policy import Availability
from kruntimes.hookspecs import hookimpl
from kruntimes.model import RuntimePod


@hookimpl
def kruntimes_pod_availability(
    pod: RuntimePod, now: float, config: SchedulerConfig
) -> Availability:
    if pod.deleting:
        return Availability(False, "the Pod is terminating")
    if not pod.ready:
        return Availability(False, "the Pod is not Running and Ready")
    if pod.heartbeat is None:
        return Availability(False, "no heartbeat from the Pod's agent yet")
    fresh_until = pod.heartbeat + config.heartbeat_fresh_seconds
    if now > fresh_until:
        return Availability(
            False,
            f"agent heartbeat is {now - pod.heartbeat:.0f}s old "
            f"(fresh within {config.heartbeat_fresh_seconds:g}s)",
        )
    verdict = _FRESH.get(fresh_until)
    if verdict is None:
        if len(_FRESH) >= 16_384:
            _FRESH.clear()
        verdict = _FRESH[fresh_until] = Availability(True, recheck_at=fresh_until)
    return verdict


_FRESH: dict[float, Availability] = {}
"""Available-verdicts by `recheck_at`: a Pod is re-evaluated on every change of its Runs,
and all evaluations between two heartbeats give this same (immutable) value."""
