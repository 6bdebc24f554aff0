"""Zone-aware placement for kruntimes: pin Runs to a zone, cap and spread an app across zones.

A realistic third-party plugin in a few hooks. It keeps no state of its own:
everything it needs comes from the Pods' labels and the core's read-only
`ClusterView` (which Runs hold which Pod), so it needs no reserve/unreserve
and gives the same answers after a scheduler restart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kruntimes.core import ClusterView, ScoreResult
from kruntimes.core.state import PodState
from kruntimes.hookspecs import hookimpl
from kruntimes.model import LabelSelector, Run

ZONE_LABEL = "topology.kubernetes.io/zone"
"""Pod label that names the Pod's zone."""
PIN_LABEL = "example.kruntimes.io/zone"
"""Run label: only Pods of this zone may run the Run."""
APP_LABEL = "app.kubernetes.io/name"
"""Run label: Runs with the same value are spread (and capped) per zone."""
NO_ZONE = ""


class ZoneSpread:
    """Filter on zone pinning and an optional per-zone cap; score by zone spreading.

    :param max_per_zone: at most this many Runs of one app per zone (None: no cap).
    :param weight_name: the `ScoreResult` name, for `SchedulerConfig.score_weights`.
    """

    def __init__(
        self,
        *,
        zone_label: str = ZONE_LABEL,
        pin_label: str = PIN_LABEL,
        app_label: str = APP_LABEL,
        max_per_zone: int | None = None,
        weight_name: str = "zone-spread",
    ) -> None:
        self.zone_label = zone_label
        self.pin_label = pin_label
        self.app_label = app_label
        self.max_per_zone = max_per_zone
        self.weight_name = weight_name

    def zone_of(self, pod: PodState) -> str:
        spec = pod.pod
        return spec.labels.get(self.zone_label, NO_ZONE) if spec is not None else NO_ZONE

    def app_count_per_zone(self, run: Run, cluster: ClusterView) -> Mapping[str, int]:
        """Runs of `run`'s app holding capacity, per zone (reservations of this cycle too).

        Costs O(Pods hosting the app), through the core's label index.
        """
        app = run.metadata.labels.get(self.app_label)
        if app is None:
            return {}
        namespace = run.metadata.namespace
        counts: dict[str, int] = {}
        selector = LabelSelector(match_labels={self.app_label: app})
        for name in sorted(cluster.pods_hosting(namespace, selector)):
            pod = cluster.pod(namespace, name)
            if pod is None:
                continue
            same = sum(
                1
                for holder in cluster.runs_on(namespace, name)
                if holder.key != run.key and holder.labels.get(self.app_label) == app
            )
            zone = self.zone_of(pod)
            counts[zone] = counts.get(zone, 0) + same
        return counts

    @hookimpl
    def kruntimes_filter(
        self, run: Run, pods: Sequence[PodState], cluster: ClusterView
    ) -> Mapping[str, str] | None:
        """Judge each Pod on its own: wrong zone for a pinned Run, or its zone is full."""
        pin = run.metadata.labels.get(self.pin_label)
        full: Mapping[str, int] = {}
        if self.max_per_zone is not None and self.app_label in run.metadata.labels:
            cap = self.max_per_zone
            full = {z: n for z, n in self.app_count_per_zone(run, cluster).items() if n >= cap}
        if pin is None and not full:
            return None
        rejected: dict[str, str] = {}
        for pod in pods:
            zone = self.zone_of(pod)
            if pin is not None and zone != pin:
                rejected[pod.name] = f"in zone {zone or '(none)'}, the Run is pinned to {pin}"
            elif zone in full:
                rejected[pod.name] = (
                    f"zone {zone or '(none)'} already runs {full[zone]} Runs of this app "
                    f"(max {self.max_per_zone})"
                )
        return rejected or None

    @hookimpl
    def kruntimes_score(
        self, run: Run, pods: Sequence[PodState], cluster: ClusterView
    ) -> ScoreResult | None:
        """Fewer Runs of the same app in the Pod's zone scores higher (raw, min-max normalized)."""
        counts = self.app_count_per_zone(run, cluster)
        if self.app_label not in run.metadata.labels:
            return None
        return ScoreResult(
            self.weight_name, [-float(counts.get(self.zone_of(p), 0)) for p in pods], False
        )


plugin = ZoneSpread()
"""The instance the `kruntimes` entry point registers (no cap)."""

__all__ = ["APP_LABEL", "PIN_LABEL", "ZONE_LABEL", "ZoneSpread", "plugin"]
