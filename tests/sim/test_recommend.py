"""kruntimes.sim.recommend: the smallest pool meeting a p99 target."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from attrs import evolve
from rich.console import Console

from kruntimes.sim.engine import Simulation
from kruntimes.sim.recommend import (
    Point,
    Recommendation,
    _monotonicity_notes,
    recommend,
    recommendation_table,
)
from kruntimes.sim.scenario import Scenario, ScenarioError, parse_scenario

TINY: dict[str, Any] = {
    "name": "tiny",
    "seed": 4,
    "horizon": "30s",
    "pools": [{"runtime": "python", "replicas": 2, "capacity": {"runs": 2}}],
    "workloads": [
        {
            "runtime": "python",
            "arrivals": {"poisson": {"rate": "20/s"}},
            "duration": {"exponential": {"mean": "200ms"}},
        }
    ],
}
TARGET = 0.05


def scenario(**changes: Any) -> Scenario:
    return parse_scenario({**TINY, **changes}, base_dir=Path("."), source="tiny.yaml")


def queueing_p99(s: Scenario, replicas: int, capacity: int) -> tuple[float, int]:
    """Simulate the pool at that size directly: (queueing p99, unfinished Runs)."""
    (pool,) = s.setup.pools
    setup = evolve(s.setup, pools=(evolve(pool, replicas=replicas, capacity={"runs": capacity}),))
    result = Simulation(setup, seed=s.seed).run(s.arrivals(), horizon=s.horizon, drain=s.drain)
    stats = result.runtimes["python"]
    return stats.latency.queueing.p99, sum(stats.unfinished.values())


def test_the_chosen_size_meets_the_target_and_one_pod_less_does_not() -> None:
    s = scenario()
    rec = recommend(
        s,
        runtime="python",
        target_p99=TARGET,
        latency="queueing",
        capacities=[1, 2, 3],
        max_replicas=30,
    )
    assert rec.met
    assert rec.p99 <= TARGET
    p99, unfinished = queueing_p99(s, rec.replicas, rec.capacity)
    assert (p99, unfinished) == (rec.p99, 0)
    below, _ = queueing_p99(s, rec.replicas - 1, rec.capacity)
    assert below > TARGET
    # no other capacity does it with fewer slots (or as few, with fewer Pods)
    for capacity in (1, 2, 3):
        best = min(
            (p for p in rec.points if p.capacity == capacity and p.met), key=lambda p: p.replicas
        )
        assert (best.slots, best.replicas) >= (rec.slots, rec.replicas)
        assert not any(
            p.met for p in rec.points if p.capacity == capacity and p.replicas < best.replicas
        )
    assert rec.notes == ()


def test_every_evaluation_is_kept_once_and_sizes_are_searched_not_scanned() -> None:
    rec = recommend(
        scenario(), runtime="python", target_p99=TARGET, capacities=(2,), max_replicas=500
    )
    keys = [(p.capacity, p.replicas) for p in rec.points]
    assert len(keys) == len(set(keys))
    assert len(keys) <= 2 * math.ceil(math.log2(500)) + 1
    assert all(p.arrived == rec.points[0].arrived for p in rec.points)


def test_end_to_end_latency_includes_the_duration() -> None:
    rec = recommend(scenario(), runtime="python", target_p99=2.0, capacities=(2,), max_replicas=30)
    assert rec.met
    assert rec.latency == "end_to_end"
    assert rec.p99 > 0.5  # an exponential of mean 200 ms has p99 of about 0.92 s


def test_a_target_no_size_meets_says_so_and_gives_the_best() -> None:
    rec = recommend(
        scenario(),
        runtime="python",
        target_p99=0.01,
        latency="end_to_end",  # below the Runs' own duration: impossible
        capacities=(1, 2),
        max_replicas=8,
    )
    assert not rec.met
    assert rec.p99 == min(p.p99 for p in rec.points)
    assert {p.replicas for p in rec.points if p.capacity == 2} >= {8}
    text = render(rec)
    assert "no size up to 8 Pods meets it; best:" in text
    assert "<- best" in text


def test_a_size_with_unfinished_runs_does_not_meet_the_target() -> None:
    # one slot for 4 busy slots' worth of work: Runs are still waiting when the drain ends
    rec = recommend(
        scenario(drain="1s"),
        runtime="python",
        target_p99=1000.0,
        latency="queueing",
        capacities=(1,),
        max_replicas=1,
    )
    (point,) = rec.points
    assert point.unfinished > 0
    assert not point.met
    assert not rec.met


def test_no_runs_of_the_runtime_is_an_error() -> None:
    pools = [*TINY["pools"], {"runtime": "node", "replicas": 1}]
    with pytest.raises(ScenarioError, match="no Runs of runtime 'node' arrive before the horizon"):
        recommend(
            scenario(pools=pools), runtime="node", target_p99=1.0, capacities=(1,), max_replicas=2
        )


def test_argument_errors() -> None:
    s = scenario()
    with pytest.raises(ValueError, match="latency must be one of"):
        recommend(
            s, runtime="python", target_p99=1.0, latency="p99", capacities=(1,), max_replicas=2
        )
    with pytest.raises(ValueError, match="no pool of runtime 'node'; pools: python"):
        recommend(s, runtime="node", target_p99=1.0, capacities=(1,), max_replicas=2)
    with pytest.raises(ValueError, match="capacities"):
        recommend(s, runtime="python", target_p99=1.0, capacities=(), max_replicas=2)
    with pytest.raises(ValueError, match="max_replicas"):
        recommend(s, runtime="python", target_p99=1.0, capacities=(1,), max_replicas=0)


def point(replicas: int, met: bool, capacity: int = 4) -> Point:
    return Point(capacity, replicas, 0.1 if met else 1.0, 0.5, 0, 100, 10.0, met)


def test_a_non_monotone_p99_is_noted() -> None:
    assert _monotonicity_notes((point(4, False), point(8, True), point(6, True))) == ()
    notes = _monotonicity_notes((point(4, True), point(6, False), point(8, True)))
    assert len(notes) == 1
    assert "4 Pods met the target but 6 did not" in notes[0]


def test_recommendation_json_round_trips_with_an_infinite_p99() -> None:
    rec = Recommendation(
        runtime="python",
        target_p99=0.5,
        latency="queueing",
        met=False,
        replicas=1,
        capacity=2,
        p99=math.inf,
        utilisation=1.0,
        max_replicas=1,
        points=(Point(2, 1, math.inf, 1.0, 10, 10, 5.0, False),),
        notes=("x",),
    )
    data = json.loads(json.dumps(rec.to_json(), allow_nan=False))
    assert data["p99"] is None
    assert data["points"][0]["slots"] == 2
    assert Recommendation.from_json(data) == rec


def render(rec: Recommendation) -> str:
    console = Console(record=True, width=200)
    console.print(recommendation_table(rec))
    return console.export_text()


def test_the_table_marks_the_chosen_size() -> None:
    rec = recommend(
        scenario(),
        runtime="python",
        target_p99=TARGET,
        latency="queueing",
        capacities=(2,),
        max_replicas=30,
    )
    text = render(rec)
    assert f"{rec.replicas} Pods x 2 runs = {rec.slots} slots" in text
    assert text.count("<- chosen") == 1
