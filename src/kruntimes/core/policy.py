"""What the core asks of its plugins, as one typed interface, and the values plugins return.

The core never touches pluggy: it calls a `Policy` (the typed facade in
`kruntimes.plugin_manager` implements it over `pm.hook`). That keeps the core
pure and lets tests drive it with any policy object.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from attrs import field, frozen

from kruntimes.core.admission import QueueState
from kruntimes.core.decisions import RunKey, WaitReason
from kruntimes.core.pool import PodOrder
from kruntimes.core.state import PodState, RunState
from kruntimes.model import LabelSelector, Run, RuntimePod


@frozen
class Availability:
    """Whether a Pod may receive new Runs; `recheck_at` says when the answer may change."""

    available: bool
    reason: str = ""
    recheck_at: float | None = None


@frozen
class PreFilterResult:
    """A plugin's narrowing of the candidate Pods for one Run, computed from indexes.

    `allowed`: only these Pods (None: no restriction). `excluded`: never these.
    `preferred`: also offer these to score hooks. `reject`: the Run cannot be
    placed now, whatever the Pods (it waits with this reason).
    """

    allowed: frozenset[str] | None = None
    excluded: frozenset[str] = frozenset()
    preferred: frozenset[str] = frozenset()
    reject: WaitReason | None = None
    unsatisfied: WaitReason | None = None
    """The reason to report if no Pod is left because of this plugin's restriction."""


def _floats(values: Iterable[float]) -> tuple[float, ...]:
    return tuple(values)


@frozen
class ScoreResult:
    """Scores of one scorer for the offered Pods, in their order.

    With `normalized` False the scores are raw and are normalized (by the
    `kruntimes_normalize_score` hook, default min-max) to 0..100 before weighting.
    """

    name: str
    scores: tuple[float, ...] = field(converter=_floats)
    normalized: bool = True


class ClusterView(Protocol):
    """Read-only queries over the core's indexes, for plugins."""

    def pod(self, namespace: str, name: str) -> PodState | None: ...

    def runs_on(self, namespace: str, pod: str) -> Iterable[RunState]: ...

    def pods_hosting(self, namespace: str, selector: LabelSelector) -> frozenset[str]:
        """Pods holding at least one Run (any phase that holds capacity) matching `selector`."""
        ...

    def anti_affinity_holders(self, namespace: str) -> Iterable[RunState]:
        """Runs holding capacity whose spec has required anti-affinity terms."""
        ...


class Policy(Protocol):
    """The plugin calls the core makes; see `kruntimes.hookspecs` for their contracts."""

    pod_order: PodOrder
    has_filters: bool
    candidates_to_score: int

    def pod_availability(self, pod: RuntimePod, now: float) -> Availability: ...

    def prefilter(self, run: Run, cluster: ClusterView) -> Sequence[PreFilterResult]: ...

    def filter(
        self, run: Run, pods: Sequence[PodState], cluster: ClusterView
    ) -> Mapping[str, str]: ...

    def score(self, run: Run, pods: Sequence[PodState], cluster: ClusterView) -> list[float]: ...

    def reserve(self, run: Run, pod: PodState, cluster: ClusterView) -> str | None: ...

    def unreserve(self, run: Run, pod: str, cluster: ClusterView) -> None: ...

    def is_retryable(self, run: Run, reason: str) -> bool | None: ...

    def run_priority(self, run: Run) -> int | None:
        """The Run's placement priority (`spec.priority` unless a plugin resolves another);
        None: its `spec.priorityClassName` is unknown (the Run fails)."""
        ...


class AdmissionPolicy(Protocol):
    """Optional: admission plugins (`kruntimes_admit`, `kruntimes_queue_share`).

    A `Policy` without these attributes admits whatever quota allows, by weighted
    dominant-resource fairness.
    """

    has_admission: bool
    has_queue_share: bool

    def admit(self, run: Run, queue: QueueState, cluster: ClusterView) -> str | None: ...

    def queue_share(
        self, queue: QueueState, capacity: Mapping[str, int], usage: Mapping[str, int]
    ) -> float | None: ...


__all__ = [
    "AdmissionPolicy",
    "Availability",
    "ClusterView",
    "PodOrder",
    "Policy",
    "PreFilterResult",
    "RunKey",
    "ScoreResult",
]
