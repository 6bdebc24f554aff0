"""Load-based orderings and scorers: least-loaded (spread) and most-allocated (bin-pack).

Load is `(max ratio, sum of ratios)` of used over capacity across the Pod's
resources: the most contended resource decides first, the rest break ties.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kruntimes.core.config import SchedulerConfig
from kruntimes.core.policy import PodOrder, ScoreResult
from kruntimes.core.resources import load_ratios
from kruntimes.core.state import PodState
from kruntimes.hookspecs import hookimpl

_KEYS: dict[tuple[float, float], tuple[float, float]] = {}
"""Interned sort keys. Pods with equal loads share one key object, and the pool's heap
compares equal keys by identity before anything else: ties, the common case with small
capacities, then cost one pointer test instead of two float comparisons."""


def _interned(key: tuple[float, float]) -> tuple[float, float]:
    found = _KEYS.get(key)
    if found is None:
        if len(_KEYS) < 65_536:
            _KEYS[key] = key
        return key
    return found


def least_loaded_key(pod: PodState) -> tuple[float, float]:
    spec = pod.pod
    key = load_ratios(pod.used, spec.capacity if spec is not None else {})
    return _KEYS.get(key) or _interned(key)


def most_allocated_key(pod: PodState) -> tuple[float, float]:
    spec = pod.pod
    top, total = load_ratios(pod.used, spec.capacity if spec is not None else {})
    return _interned((-top, -total))


def load_score(pod: PodState) -> float:
    """0 (idle) .. 100 (full): the max ratio, with the mean ratio as a finer part."""
    top, total = load_ratios(pod.used, pod.capacity)
    n = sum(1 for cap in pod.capacity.values() if cap > 0) or 1
    return 100.0 * (0.75 * min(top, 1.0) + 0.25 * min(total / n, 1.0))


class _LoadScorer:
    """One load policy: its Pod ordering, and its score when it is ordering or weighted."""

    name = ""
    order: PodOrder
    prefers_full = False

    def _active(self, config: SchedulerConfig) -> bool:
        return config.ordering == self.name or config.score_weights.get(self.name, 0) > 0

    @hookimpl
    def kruntimes_pod_orders(self) -> Mapping[str, PodOrder]:
        return {self.name: type(self).order}

    @hookimpl
    def kruntimes_score(
        self, pods: Sequence[PodState], config: SchedulerConfig
    ) -> ScoreResult | None:
        if not self._active(config):
            return None
        loads = [load_score(p) for p in pods]
        return ScoreResult(self.name, loads if self.prefers_full else [100.0 - x for x in loads])


class LeastLoaded(_LoadScorer):
    """Spread: prefer the Pod with the lowest load."""

    name = "least-loaded"
    order = staticmethod(least_loaded_key)


class MostAllocated(_LoadScorer):
    """Bin-pack: prefer the fullest Pod that still fits, to keep others idle."""

    name = "most-allocated"
    order = staticmethod(most_allocated_key)
    prefers_full = True
