"""The simulator drives the real core: determinism, conservation, Little's law, failures."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import pytest

from kruntimes.core import SchedulerConfig
from kruntimes.core.state import PodState
from kruntimes.hookspecs import hookimpl
from kruntimes.model import RetryPolicy, Run
from kruntimes.sim.arrivals import Arrival, Burst, Poisson, Workload, scenario_arrivals
from kruntimes.sim.baseline import one_pod_per_run
from kruntimes.sim.distributions import Constant, Exponential
from kruntimes.sim.engine import Simulation
from kruntimes.sim.results import SimResult
from kruntimes.sim.setup import FailureModel, PoolSpec, SimSetup
from kruntimes.testing.builders import make_queue


def arrivals(
    rate: float = 20.0, horizon: float = 60.0, seed: int = 1, mean: float = 1.0
) -> Iterator[Arrival]:
    work = Workload(runtime="python", process=Poisson(rate), duration=Exponential(mean))
    return scenario_arrivals([work], seed=seed, until=horizon)


def simulate(setup: SimSetup, *, seed: int = 1, horizon: float = 60.0, **kw: object) -> SimResult:
    rate = float(kw.pop("rate", 20.0))  # type: ignore[arg-type]
    return Simulation(setup, seed=seed).run(
        arrivals(rate, horizon, seed),
        horizon=horizon,
        **kw,  # type: ignore[arg-type]
    )


def pools(replicas: int = 10, runs: int = 4, **kw: object) -> tuple[PoolSpec, ...]:
    return (PoolSpec("python", replicas, capacity={"runs": runs}, **kw),)  # type: ignore[arg-type]


def test_same_seed_same_result_and_another_seed_another() -> None:
    setup = SimSetup(pools=pools(3), failures=FailureModel(pod_loss_per_hour=20.0))
    first = simulate(setup, seed=5)
    assert simulate(setup, seed=5).to_json() == first.to_json()
    assert simulate(setup, seed=6).to_json() != first.to_json()


def test_every_arrival_is_accounted_for_even_with_failures() -> None:
    setup = SimSetup(
        pools=pools(4),
        retry=RetryPolicy(max_attempts=3, backoff_seconds=0.5),
        failures=FailureModel(pod_loss_per_hour=30.0, agent_crash_per_hour=30.0, run_failure=0.3),
    )
    result = simulate(setup, horizon=120.0, drain=30.0)
    expected = sum(1 for _ in arrivals(horizon=120.0))
    assert result.arrived == expected
    assert result.conserved
    assert result.extra["pods_lost"] > 0
    assert result.extra["agent_crashes"] > 0
    assert result.attempts > result.ended  # lost executions and failed attempts were retried
    assert result.outcomes.get("Failed", 0) > 0  # some Runs ran out of attempts


def test_littles_law_holds_on_the_outputs() -> None:
    result = simulate(SimSetup(pools=pools(2, runs=10)), horizon=300.0, rate=15.0)
    law = result.littles_law
    assert result.unfinished_total == 0
    assert law.relative_error < 0.02, law


def test_room_enough_means_no_queueing_and_all_warm() -> None:
    result = simulate(SimSetup(pools=pools(50), reaction=Constant(0.0)))
    assert result.latency.queueing.max == 0.0
    assert result.warm_hit_rate == 1.0
    assert result.latency.dispatch.p50 == pytest.approx(0.002, rel=0.01)


def test_too_little_room_queues_and_says_why() -> None:
    result = simulate(SimSetup(pools=pools(1, runs=2)), rate=10.0, drain=0.0)
    assert result.latency.queueing.p99 > 1.0
    assert result.unfinished.get("waiting", 0) > 0
    assert max(result.series.waiting.get("NoCapacity", (0,))) > 0


def test_a_runtime_without_pods_leaves_its_runs_waiting_for_one() -> None:
    setup = SimSetup(pools=(PoolSpec("node", 1),))
    result = simulate(setup, horizon=10.0, drain=5.0)
    assert result.ended == 0
    assert result.unfinished.get("waiting") == result.arrived > 0
    assert max(result.series.waiting["NoPodForRuntime"]) > 0


def test_quota_of_the_real_core_caps_concurrency() -> None:
    queue = make_queue("default", quota={"runs": 3})
    setup = SimSetup(pools=pools(10), queues=(queue,))
    result = simulate(setup, rate=20.0, drain=0.0)
    stats = result.runtimes["python"]
    assert stats.busy_slot_seconds <= 3 * result.end + 1e-6
    assert max(result.series.waiting.get("QuotaExceeded", (0,))) > 0


def test_admission_off_ignores_the_quota() -> None:
    queue = make_queue("default", quota={"runs": 3})
    setup = SimSetup(pools=pools(10), queues=(queue,), scheduler=SchedulerConfig(admission=False))
    result = simulate(setup, rate=20.0, drain=0.0)
    assert result.runtimes["python"].busy_slot_seconds > 3 * result.end


def test_a_growing_pool_starts_pods_and_its_late_binds_are_cold() -> None:
    setup = SimSetup(
        pools=pools(1, runs=2, max_replicas=30, startup=Constant(3.0), scale_down_after=5.0)
    )
    burst = Workload(runtime="python", process=Burst(1.0, 100, 1.0), duration=Constant(20.0))
    result = Simulation(setup).run(scenario_arrivals([burst], seed=1, until=60.0), horizon=60.0)
    assert result.conserved
    assert result.succeeded == 100
    assert result.runtimes["python"].max_pods == 30
    assert 0 < result.warm_hit_rate < 0.1  # only the first Pod's two slots were warm
    assert result.latency.queueing.p50 >= 3.0  # the others waited for a Pod to start
    assert result.series.pods["python"][-1] == 1  # back to `replicas` once idle


def test_pod_seconds_of_a_fixed_pool_are_pods_times_time() -> None:
    result = simulate(SimSetup(pools=pools(7)), horizon=30.0, drain=0.0)
    assert result.pod_seconds == pytest.approx(7 * result.end)


def test_the_one_pod_per_run_baseline_pays_a_startup_per_run() -> None:
    result = one_pod_per_run(
        arrivals(horizon=30.0), horizon=30.0, dispatch=Constant(0.002), startup=Constant(2.0)
    )
    assert result.conserved
    assert result.arrived == sum(1 for _ in arrivals(horizon=30.0))
    assert result.latency.queueing.p50 == pytest.approx(2.0, rel=0.01)
    assert result.warm_hit_rate == 0.0
    assert result.littles_law.relative_error < 0.05
    # each Pod lives from its creation to its Run's end: startup + dispatch + duration
    assert result.pod_seconds == pytest.approx(result.ended * 2.002 + _run_seconds(30.0))


def _run_seconds(horizon: float) -> float:
    return sum(a.duration for a in arrivals(horizon=horizon))


def test_the_baseline_with_a_pod_limit_queues_first_come_first_served() -> None:
    capped = one_pod_per_run(
        arrivals(horizon=30.0),
        horizon=30.0,
        dispatch=Constant(0.0),
        startup=Constant(1.0),
        max_pods=5,
    )
    free = one_pod_per_run(
        arrivals(horizon=30.0), horizon=30.0, dispatch=Constant(0.0), startup=Constant(1.0)
    )
    assert capped.conserved
    assert capped.latency.queueing.p99 > free.latency.queueing.p99
    assert max(capped.series.pods["python"]) <= 5


def test_runs_still_in_flight_at_the_drain_limit_are_unfinished() -> None:
    slow = Workload(runtime="python", process=Poisson(5.0), duration=Constant(1000.0))
    result = Simulation(SimSetup(pools=pools(100))).run(
        scenario_arrivals([slow], seed=1, until=10.0), horizon=10.0, drain=5.0
    )
    assert result.ended == 0
    assert result.unfinished["running"] == result.arrived
    assert result.end <= 15.0


def test_plugins_of_production_decide_placement() -> None:
    class OnlyEvenPods:
        @hookimpl
        def kruntimes_filter(
            self, run: Run, pods: Sequence[PodState], cluster: object
        ) -> dict[str, str]:
            return {ps.key[1]: "odd" for ps in pods if int(ps.key[1].rsplit("-", 1)[1]) % 2}

    setup = SimSetup(pools=pools(2, runs=1), plugins=(OnlyEvenPods(),))
    result = simulate(setup, rate=2.0, horizon=30.0, drain=0.0)
    assert result.runtimes["python"].busy_slot_seconds <= result.end + 1e-6  # one Pod only
    assert math.isfinite(result.latency.queueing.p99)


def test_the_reaction_delay_is_the_floor_of_queueing() -> None:
    result = simulate(SimSetup(pools=pools(50), reaction=Constant(0.01)))
    # a Run arriving while a cycle is already due joins it: it waits less than the delay
    assert 0.0 < result.latency.queueing.p50 <= 0.0101
    assert result.latency.queueing.max <= 0.0101  # never more: the pool has room
    assert result.extra["decisions"]["Bind"] == result.arrived
