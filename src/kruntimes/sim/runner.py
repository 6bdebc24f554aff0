"""Run a `Scenario`: each policy, the baseline and the recommendation, on the same arrivals.

Every simulation gets a fresh stream of the scenario's arrivals from the same seed, so
policies and the baseline see exactly the same Runs at the same times (common random
numbers): differences between their results come from the policies alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from attrs import evolve, field, frozen

from kruntimes.sim.baseline import one_pod_per_run
from kruntimes.sim.engine import Simulation
from kruntimes.sim.recommend import Recommendation, recommend_for
from kruntimes.sim.results import SimResult
from kruntimes.sim.scenario import BASELINE, DEFAULT_SYSTEM, Scenario

__all__ = ["RECOMMEND", "ScenarioOutcome", "run_scenario"]

RECOMMEND = "recommend"
"""The progress label of the recommendation's steps (followed by ": <size>")."""

Progress = Callable[[str, float], None]
"""(label, fraction 0..1): the label is a policy name, the baseline's name
("one-pod-per-run") or "recommend: <the size being simulated>"."""


def _dict(value: Mapping[str, SimResult]) -> dict[str, SimResult]:
    return dict(value)


@frozen
class ScenarioOutcome:
    """What a scenario gave: a result per policy, the baseline's and the recommendation."""

    results: dict[str, SimResult] = field(converter=_dict)
    """One per policy, in the scenario's order; {"kruntimes": ...} without policies."""
    baseline: SimResult | None = None
    recommendation: Recommendation | None = None
    scenario: str = ""
    seed: int = 0
    horizon: float = 0.0

    def all_results(self) -> dict[str, SimResult]:
        """The policies' results and the baseline's (under "one-pod-per-run"), for plots."""
        out = dict(self.results)
        if self.baseline is not None:
            out[BASELINE] = self.baseline
        return out

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types: scenario, seed, horizon, results, baseline, recommendation."""
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "horizon": self.horizon,
            "results": {name: r.to_json() for name, r in self.results.items()},
            "baseline": None if self.baseline is None else self.baseline.to_json(),
            "recommendation": (
                None if self.recommendation is None else self.recommendation.to_json()
            ),
        }

    def dumps(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_json(), indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScenarioOutcome:
        baseline = data.get("baseline")
        rec = data.get("recommendation")
        return cls(
            results={k: SimResult.from_json(v) for k, v in data["results"].items()},
            baseline=None if baseline is None else SimResult.from_json(baseline),
            recommendation=None if rec is None else Recommendation.from_json(rec),
            scenario=data.get("scenario", ""),
            seed=int(data.get("seed", 0)),
            horizon=float(data.get("horizon", 0.0)),
        )


def run_scenario(scenario: Scenario, *, progress: Progress | None = None) -> ScenarioOutcome:
    """Simulate every policy, then the baseline, then the recommendation (if asked for).

    `progress(label, fraction)` is told how far each step is (virtual time over the
    horizon; for the recommendation, evaluations done over those planned).
    """
    horizon = scenario.horizon
    results: dict[str, SimResult] = {}
    for name, setup in scenario.systems().items():
        result = Simulation(setup, seed=scenario.seed).run(
            scenario.arrivals(),
            horizon=horizon,
            drain=scenario.drain,
            scenario=scenario.name,
            progress=_ticker(progress, name, horizon),
        )
        if name != DEFAULT_SYSTEM:
            result = evolve(result, system=name)
        results[name] = result
        _done(progress, name)
    baseline = None
    if scenario.baseline is not None:
        baseline = one_pod_per_run(
            scenario.arrivals(),
            horizon=horizon,
            dispatch=scenario.setup.dispatch,
            startup=scenario.baseline.startup,
            max_pods=scenario.baseline.max_pods,
            seed=scenario.seed,
            scenario=scenario.name,
            progress=_ticker(progress, BASELINE, horizon),
        )
        _done(progress, BASELINE)
    recommendation = None
    if scenario.recommend is not None:
        step = None if progress is None else _recommend_progress(progress)
        recommendation = recommend_for(scenario, progress=step)
    return ScenarioOutcome(
        results=results,
        baseline=baseline,
        recommendation=recommendation,
        scenario=scenario.name,
        seed=scenario.seed,
        horizon=horizon,
    )


def _ticker(
    progress: Progress | None, label: str, horizon: float
) -> Callable[[float], None] | None:
    if progress is None:
        return None
    return lambda t: progress(label, min(t / horizon, 1.0))


def _done(progress: Progress | None, label: str) -> None:
    if progress is not None:
        progress(label, 1.0)


def _recommend_progress(progress: Progress) -> Progress:
    def step(detail: str, fraction: float) -> None:
        label = RECOMMEND if detail == "done" else f"{RECOMMEND}: {detail}"
        progress(label, fraction)

    return step
