"""kruntimes.sim.runner: a scenario's policies, baseline and recommendation, reproducibly."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from kruntimes.sim.runner import ScenarioOutcome, run_scenario
from kruntimes.sim.scenario import Scenario, ScenarioError, load_scenario, parse_scenario

TINY: dict[str, Any] = {
    "name": "tiny",
    "seed": 1,
    "horizon": "20s",
    "pools": [
        {"runtime": "python", "replicas": 2, "capacity": {"runs": 2}, "maxReplicas": 4},
    ],
    "workloads": [
        {
            "runtime": "python",
            "arrivals": {"onoff": {"rateOn": "40/s", "meanOn": "3s", "meanOff": "5s"}},
            "duration": {"exponential": {"mean": "100ms"}},
        }
    ],
    "dispatch": {"lognormal": {"p50": "2ms", "p99": "10ms"}},
}


def scenario(**changes: Any) -> Scenario:
    return parse_scenario({**TINY, **changes}, base_dir=Path("."), source="tiny.yaml")


POLICIES = {
    "spread": {"scheduler": {"ordering": "least-loaded"}},
    "bin-pack": {"scheduler": {"ordering": "most-allocated"}},
}


def test_without_policies_there_is_one_result_named_kruntimes() -> None:
    outcome = run_scenario(scenario())
    assert list(outcome.results) == ["kruntimes"]
    result = outcome.results["kruntimes"]
    assert result.system == "kruntimes"
    assert result.scenario == "tiny"
    assert result.arrived > 20
    assert result.conserved
    assert outcome.baseline is not None
    assert outcome.baseline.system == "one-pod-per-run"
    assert outcome.recommendation is None
    assert (outcome.scenario, outcome.seed, outcome.horizon) == ("tiny", 1, 20.0)


def test_the_same_scenario_gives_the_same_json() -> None:
    first = run_scenario(scenario(policies=POLICIES)).dumps()
    assert run_scenario(scenario(policies=POLICIES)).dumps() == first


def test_another_seed_gives_other_results() -> None:
    a = run_scenario(scenario()).results["kruntimes"]
    b = run_scenario(scenario(seed=2)).results["kruntimes"]
    assert a.to_json() != b.to_json()
    assert a.arrived != b.arrived or a.latency != b.latency


def trimmed(counts: tuple[int, ...]) -> tuple[int, ...]:
    end = len(counts)
    while end and not counts[end - 1]:
        end -= 1
    return counts[:end]


def test_policies_and_the_baseline_see_the_same_arrivals() -> None:
    outcome = run_scenario(scenario(policies=POLICIES))
    assert list(outcome.results) == ["spread", "bin-pack"]
    assert [r.system for r in outcome.results.values()] == ["spread", "bin-pack"]
    assert outcome.baseline is not None
    arrived = {r.arrived for r in outcome.all_results().values()}
    assert len(arrived) == 1
    # the same Runs at the same times: the same arrivals per time bucket (the series of a
    # run that ends later has more, empty, buckets)
    arrivals = {trimmed(r.series.arrivals) for r in outcome.all_results().values()}
    assert len(arrivals) == 1


def test_baseline_false_skips_it_and_its_settings_are_used() -> None:
    assert run_scenario(scenario(baseline=False)).baseline is None
    capped = run_scenario(scenario(baseline={"startup": "2s", "maxPods": 1})).baseline
    free = run_scenario(scenario(baseline={"startup": "2s"})).baseline
    assert capped is not None
    assert free is not None
    assert free.latency.queueing.p50 == pytest.approx(2.0, rel=0.01)  # a constant start-up
    assert capped.latency.queueing.p99 > free.latency.queueing.p99  # one Pod at a time


def test_progress_reports_each_step_up_to_one() -> None:
    seen: dict[str, list[float]] = defaultdict(list)
    rec = {"target": {"p99": "50ms", "latency": "queueing"}, "maxReplicas": 8}
    run_scenario(
        scenario(policies=POLICIES, recommend=rec),
        progress=lambda label, f: seen[label.split(":")[0]].append(f),
    )
    assert list(seen) == ["spread", "bin-pack", "one-pod-per-run", "recommend"]
    for label, fractions in seen.items():
        assert fractions == sorted(fractions), label
        assert all(0.0 <= f <= 1.0 for f in fractions), label
        assert fractions[-1] == 1.0, label


def test_the_outcome_round_trips_through_json() -> None:
    rec = {"target": {"p99": "50ms", "latency": "queueing"}, "maxReplicas": 8}
    outcome = run_scenario(scenario(policies=POLICIES, recommend=rec))
    assert outcome.recommendation is not None
    data = json.loads(outcome.dumps())
    assert set(data) == {"scenario", "seed", "horizon", "results", "baseline", "recommendation"}
    assert ScenarioOutcome.from_json(data) == outcome


def test_a_bad_trace_row_surfaces_as_a_scenario_error(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("at,duration\n0.5,1s\n0.7,abc\n")
    data = {**TINY, "workloads": [{"trace": {"path": "t.csv", "runtime": "python"}}]}
    bad = parse_scenario(data, base_dir=tmp_path, source="s.yaml")
    with pytest.raises(ScenarioError, match=r"s\.yaml: workloads\[0\]\.trace: .*line 3"):
        run_scenario(bad)


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "simulations"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_runs_briefly(path: Path) -> None:
    """Each example, cut to its first 10 virtual seconds (the whole ones take seconds each)."""
    example = load_scenario(path).with_overrides(horizon=10.0)
    outcome = run_scenario(example)
    results = outcome.all_results()
    assert len({r.arrived for r in results.values()}) == 1
    for name, result in results.items():
        assert result.conserved, name
        assert result.arrived > 0, name
    assert (outcome.recommendation is None) == (example.recommend is None)
