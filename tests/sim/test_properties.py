"""Properties of any simulation: same seed same result, nothing lost, Little's law."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kruntimes.model import RetryPolicy
from kruntimes.sim import (
    Constant,
    Exponential,
    FailureModel,
    Metrics,
    OnOff,
    Poisson,
    PoolSpec,
    SimSetup,
    Simulation,
    Uniform,
    Workload,
    scenario_arrivals,
)
from kruntimes.sim.results import SimResult

HORIZON = 120.0

processes = st.one_of(
    st.builds(Poisson, st.floats(2.0, 30.0)),
    st.builds(
        OnOff,
        rate_on=st.floats(5.0, 60.0),
        rate_off=st.floats(0.0, 2.0),
        mean_on=st.floats(1.0, 10.0),
        mean_off=st.floats(1.0, 10.0),
    ),
)
durations = st.one_of(
    st.builds(Constant, st.floats(0.01, 3.0)),
    st.builds(Exponential, st.floats(0.05, 3.0)),
    st.builds(Uniform, st.just(0.1), st.floats(0.2, 4.0)),
)
pools = st.builds(
    lambda replicas, slots, grow: PoolSpec(
        "python",
        replicas,
        capacity={"runs": slots},
        max_replicas=replicas + grow if grow else None,
        startup=Constant(2.0),
    ),
    st.integers(0, 8),
    st.integers(1, 6),
    st.integers(0, 6),
)
failures = st.builds(
    FailureModel,
    pod_loss_per_hour=st.sampled_from([0.0, 20.0]),
    agent_crash_per_hour=st.sampled_from([0.0, 20.0]),
    run_failure=st.sampled_from([0.0, 0.05]),
)


@st.composite
def simulations(draw: st.DrawFn) -> tuple[SimSetup, Workload, int]:
    setup = SimSetup(
        pools=(draw(pools),),
        failures=draw(failures),
        retry=RetryPolicy(max_attempts=draw(st.integers(1, 4)), backoff_seconds=0.5),
        cycle_interval=draw(st.sampled_from([0.0, 0.01])),
    )
    work = Workload(runtime="python", process=draw(processes), duration=draw(durations))
    return setup, work, draw(st.integers(0, 2**32))


def simulate(setup: SimSetup, work: Workload, seed: int, *, sample: float = 1.0) -> SimResult:
    arrivals = scenario_arrivals([work], seed=seed, until=HORIZON)
    metrics = Metrics(bucket_seconds=sample)
    return Simulation(setup, seed=seed).run(arrivals, horizon=HORIZON, drain=300.0, metrics=metrics)


slow = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@slow
@given(simulations())
def test_every_arrival_is_accounted_for_and_the_same_seed_gives_the_same_result(
    case: tuple[SimSetup, Workload, int],
) -> None:
    setup, work, seed = case
    result = simulate(setup, work, seed)
    expected = sum(1 for _ in scenario_arrivals([work], seed=seed, until=HORIZON))
    assert result.arrived == expected
    assert result.conserved
    assert result.binds >= result.succeeded
    assert simulate(setup, work, seed).to_json() == result.to_json()


@slow
@given(simulations())
def test_littles_law_holds_when_the_system_drains(case: tuple[SimSetup, Workload, int]) -> None:
    setup, work, seed = case
    result = simulate(setup, work, seed, sample=0.05)  # L comes from samples; Runs are short
    if result.unfinished_total or result.ended < 200:
        return  # L = lambda W is about a system that empties; too few Runs are noise
    assert result.littles_law.relative_error < 0.1, result.littles_law
