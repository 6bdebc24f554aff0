"""ZoneSpread against the kruntimes policy contract, plus its own behaviour."""

from __future__ import annotations

import importlib.metadata

import pytest
from hypothesis import strategies as st
from kruntimes_example_zone import APP_LABEL, PIN_LABEL, ZONE_LABEL, ZoneSpread

from kruntimes import create_plugin_manager
from kruntimes.core import Bind, Plan, SchedulerConfig
from kruntimes.testing import Harness, PlacementPolicyContract, SchedulerMachine
from kruntimes.testing.reference import InvariantViolation
from kruntimes.testing.strategies import ZONES

CAP = 2


def zone_pod_labels() -> st.SearchStrategy[dict[str, str]]:
    """Mostly zoned Pods, a few without a zone."""
    zoned = st.sampled_from(ZONES).map(lambda z: {ZONE_LABEL: z})
    return st.one_of(zoned, zoned, zoned, st.just({}))


def zone_run_labels() -> st.SearchStrategy[dict[str, str]]:
    """Two apps, sometimes pinned to a zone, plus the kit's usual labels."""
    return st.fixed_dictionaries(
        {},
        optional={
            APP_LABEL: st.sampled_from(["web", "batch"]),
            PIN_LABEL: st.sampled_from(ZONES),
            "tenant": st.sampled_from(["a", "b"]),
        },
    )


class CappedZoneMachine(SchedulerMachine):
    """The kit's state machine plus the plugin's own promises, checked on every plan."""

    def check_plan(self, plan: Plan) -> None:
        placed: list[tuple[str, str, str]] = []  # (namespace, zone, app) of this plan's binds
        for d in plan.binds:
            ref = self.model.runs[d.run]
            labels = ref.run.metadata.labels
            pod = self.harness.store.pods[(d.run[0], d.pod)]
            zone = pod.labels.get(ZONE_LABEL, "")
            pin = labels.get(PIN_LABEL)
            if pin is not None and zone != pin:
                raise InvariantViolation(f"{d.run} pinned to {pin} was bound in zone {zone!r}")
            app = labels.get(APP_LABEL)
            if app is None:
                continue
            held = sum(
                1
                for other in self.model.holders(d.run[0])
                if other.key != d.run
                and other.run.metadata.labels.get(APP_LABEL) == app
                and self._zone(d.run[0], other.pod) == zone
            )
            held += placed.count((d.run[0], zone, app))
            if held >= CAP:
                raise InvariantViolation(f"{d.run} is the {held + 1}th {app} Run in zone {zone!r}")
            placed.append((d.run[0], zone, app))

    def _zone(self, namespace: str, pod: str | None) -> str | None:
        found = self.harness.store.pods.get((namespace, pod or ""))
        if found is None:
            ref = self.model.pods.get((namespace, pod or ""))
            found = ref.pod if ref is not None else None
        return None if found is None else found.labels.get(ZONE_LABEL, "")


class TestZoneSpreadContract(PlacementPolicyContract):
    """The whole contract, with a per-zone cap so that the filter has work to do."""

    def plugins(self) -> list[object]:
        return [ZoneSpread(max_per_zone=CAP)]

    def pod_labels(self) -> st.SearchStrategy[dict[str, str]]:
        return zone_pod_labels()

    def run_labels(self) -> st.SearchStrategy[dict[str, str]]:
        return zone_run_labels()

    def machine(self) -> type[SchedulerMachine]:
        return CappedZoneMachine


class TestZoneSpreadScoringWindow(PlacementPolicyContract):
    """Spreading weighs in only among the Pods offered to scorers: widen the window."""

    stateful_examples = 15

    def plugins(self) -> list[object]:
        return [ZoneSpread()]

    def config(self) -> SchedulerConfig:
        return SchedulerConfig(candidates_to_score=4, score_weights={"zone-spread": 3})

    def pod_labels(self) -> st.SearchStrategy[dict[str, str]]:
        return zone_pod_labels()

    def run_labels(self) -> st.SearchStrategy[dict[str, str]]:
        return zone_run_labels()


def zoned_cluster(plugin: ZoneSpread, **config: object) -> Harness:
    h = Harness([plugin], SchedulerConfig(**config))  # type: ignore[arg-type]
    for name, zone in [("a1", "zone-a"), ("a2", "zone-a"), ("b1", "zone-b"), ("c1", "zone-c")]:
        h.add_pod(name, capacity={"runs": 4}, labels={ZONE_LABEL: zone})
    return h


def test_pinned_runs_stay_in_their_zone() -> None:
    h = zoned_cluster(ZoneSpread())
    h.submit("r1", labels={PIN_LABEL: "zone-b"})
    h.submit("r2", labels={PIN_LABEL: "zone-x"})
    plan = h.step()
    assert [(b.run[1], b.pod) for b in plan.binds] == [("r1", "b1")]
    why = h.why_waiting("r2")
    assert why is not None
    assert "pinned to zone-x" in why.message


def test_runs_of_one_app_spread_over_zones() -> None:
    h = zoned_cluster(ZoneSpread(), candidates_to_score=8)
    h.submit(*[f"web-{i}" for i in range(3)], labels={APP_LABEL: "web"})
    plan = h.step()
    zones = {h.pod(b.pod).labels[ZONE_LABEL] for b in plan.binds}
    assert zones == {"zone-a", "zone-b", "zone-c"}


def test_the_cap_counts_reservations_of_the_same_cycle() -> None:
    h = zoned_cluster(ZoneSpread(max_per_zone=1), candidates_to_score=8)
    h.submit(*[f"web-{i}" for i in range(5)], labels={APP_LABEL: "web"})
    plan = h.step()
    assert len(plan.binds) == 3  # one per zone, decided in one cycle
    assert {h.pod(b.pod).labels[ZONE_LABEL] for b in plan.binds} == set(ZONES)
    why = h.why_waiting("web-3")
    assert why is not None
    assert why.code.value == "Filtered"
    h.finish(h.start(plan.binds[0].run))
    assert [b.run for b in h.step().binds] == [("default", "web-3")]


def test_the_cap_is_released_when_a_bind_write_fails() -> None:
    h = zoned_cluster(ZoneSpread(max_per_zone=1), candidates_to_score=8)
    h.submit("web-0", labels={APP_LABEL: "web"})
    first = h.cycle()
    (bind,) = first.binds
    h.fail_write(bind, unreserve_times=2)
    again = h.step()
    assert [b.run for b in again.binds] == [bind.run]
    assert isinstance(again.decisions[0], Bind)
    h.assert_deterministic()


def test_the_entry_point_registers_the_plugin() -> None:
    try:
        importlib.metadata.distribution("kruntimes-example-zone")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("kruntimes-example-zone is not installed (pip install -e plugins/...)")
    pm = create_plugin_manager()
    assert pm.get_plugin("example-zone") is not None
    disabled = create_plugin_manager(disabled=["example-zone"])
    assert disabled.get_plugin("example-zone") is None
