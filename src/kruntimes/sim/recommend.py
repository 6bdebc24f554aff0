"""Pool sizing: the fewest warm slots whose p99 latency meets a target.

For each capacity (`runs` per Pod) to try, `recommend` finds the smallest number of
replicas whose p99 (end-to-end or queueing) of the pool's runtime is at most the target,
with no Run of that runtime left unfinished at the end; then it picks the capacity with the
fewest slots in all (replicas x capacity), ties going to fewer Pods.

The search is a galloping binary search over replicas: it starts at the size of the
scenario's pool (as many slots at the new capacity), doubles until the target is met or
`max_replicas` is reached, then bisects. It **assumes that p99 does not rise as replicas
grow** (more warm slots never make Runs wait longer), which holds for the built-in
orderings up to simulation noise: the pool is fixed (no autoscaling) and every evaluation
replays the same arrivals with the same seed, so two sizes differ only by what the size
changes. The assumption is checked on the points evaluated: a size that met the target
below one that did not is reported in `Recommendation.notes`.

Cost: every evaluation is a full simulation of the scenario's arrivals (before
`horizon`, by default the scenario's), about log2(answer / start) + 1 simulations for the
doubling and as many again for the bisection, per capacity: typically 5 to 12 per
capacity. Use a short `recommend.horizon` for long scenarios.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from attrs import asdict, evolve, frozen
from rich.table import Table

from kruntimes.sim.engine import Simulation
from kruntimes.sim.report import format_count, format_percent, format_seconds
from kruntimes.sim.results import SimResult
from kruntimes.sim.scenario import LATENCIES, Scenario, ScenarioError
from kruntimes.sim.setup import SimSetup

__all__ = [
    "Point",
    "Recommendation",
    "recommend",
    "recommendation_table",
]

Progress = Callable[[str, float], None]
"""(what is being simulated, fraction of the recommendation done 0..1)."""


@frozen
class Point:
    """One evaluated pool size."""

    capacity: int
    """`runs` per Pod."""
    replicas: int
    p99: float
    """Seconds, of the Runs of the runtime that ended."""
    utilisation: float
    unfinished: int
    """Runs of the runtime still waiting or running at the end: a size with any misses."""
    arrived: int
    pod_seconds: float
    met: bool

    @property
    def slots(self) -> int:
        return self.replicas * self.capacity


@frozen
class Recommendation:
    """The pool size chosen, and every size evaluated on the way."""

    runtime: str
    target_p99: float
    latency: str
    """`end_to_end` or `queueing`."""
    met: bool
    """False: no size up to `max_replicas` met the target; the fields below are then
    those of the best size found (lowest p99)."""
    replicas: int
    capacity: int
    p99: float
    utilisation: float
    max_replicas: int
    points: tuple[Point, ...] = ()
    """In the order evaluated."""
    notes: tuple[str, ...] = ()
    """Doubts about the answer (p99 not falling with replicas)."""

    @property
    def slots(self) -> int:
        return self.replicas * self.capacity

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types (an infinite p99, when no Run ended, is null); `from_json` inverts."""
        data = asdict(self, recurse=False)
        data["p99"] = _finite_or_none(self.p99)
        data["slots"] = self.slots
        data["points"] = [
            {**asdict(p), "p99": _finite_or_none(p.p99), "slots": p.slots} for p in self.points
        ]
        data["notes"] = list(self.notes)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Recommendation:
        fields = {k: v for k, v in data.items() if k not in ("points", "notes", "slots", "p99")}
        return cls(
            **fields,
            p99=_inf_if_none(data["p99"]),
            points=tuple(
                Point(
                    **{k: v for k, v in p.items() if k not in ("slots", "p99")},
                    p99=_inf_if_none(p["p99"]),
                )
                for p in data.get("points", ())
            ),
            notes=tuple(data.get("notes", ())),
        )


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _inf_if_none(value: float | None) -> float:
    return math.inf if value is None else float(value)


def recommend(
    scenario: Scenario,
    *,
    runtime: str,
    target_p99: float,
    latency: str = "end_to_end",
    capacities: tuple[int, ...] | list[int],
    max_replicas: int,
    horizon: float | None = None,
    policy: str | None = None,
    progress: Progress | None = None,
) -> Recommendation:
    """The smallest pool of `runtime` whose `latency` p99 is at most `target_p99` seconds.

    Every capacity in `capacities` is tried with 1 to `max_replicas` replicas, each size a
    full simulation of the scenario's arrivals before `horizon` (default: the scenario's)
    with the pool fixed at that size (`maxReplicas` ignored) and the scheduler of `policy`
    (default: the top-level one). See the module docstring for the search and its cost.
    """
    if latency not in LATENCIES.values():
        raise ValueError(f"latency must be one of {', '.join(LATENCIES.values())}: {latency!r}")
    runtimes = [p.runtime for p in scenario.setup.pools]
    if runtime not in runtimes:
        raise ValueError(f"no pool of runtime {runtime!r}; pools: {', '.join(runtimes)}")
    if not capacities:
        raise ValueError("capacities: expected at least one")
    if max_replicas < 1:
        raise ValueError(f"max_replicas must be >= 1, got {max_replicas}")
    search = _Search(
        scenario,
        runtime=runtime,
        target=target_p99,
        latency=latency,
        max_replicas=max_replicas,
        horizon=horizon,
        policy=policy,
    )
    search.progress = progress
    best_each: list[Point] = []
    for index, capacity in enumerate(capacities):
        search.step = (index, len(capacities))
        found = search.smallest(int(capacity))
        if found is not None:
            best_each.append(found)
    if progress is not None:
        progress("done", 1.0)
    points = tuple(search.points)
    notes = _monotonicity_notes(points)
    if best_each:
        chosen = min(best_each, key=lambda p: (p.slots, p.replicas))
        met = True
    else:
        chosen = min(points, key=lambda p: (p.unfinished, p.p99, p.slots))
        met = False
    return Recommendation(
        runtime=runtime,
        target_p99=target_p99,
        latency=latency,
        met=met,
        replicas=chosen.replicas,
        capacity=chosen.capacity,
        p99=chosen.p99,
        utilisation=chosen.utilisation,
        max_replicas=max_replicas,
        points=points,
        notes=notes,
    )


def recommend_for(scenario: Scenario, *, progress: Progress | None = None) -> Recommendation:
    """`recommend` with the scenario's `recommend` section."""
    spec = scenario.recommend
    if spec is None:
        raise ValueError(f"{scenario.source or scenario.name}: the scenario has no 'recommend'")
    horizon = spec.horizon if spec.horizon is None else min(spec.horizon, scenario.horizon)
    return recommend(
        scenario,
        runtime=spec.runtime,
        target_p99=spec.target_p99,
        latency=spec.latency,
        capacities=spec.capacities,
        max_replicas=spec.max_replicas,
        horizon=horizon,
        policy=spec.policy,
        progress=progress,
    )


class _Search:
    """Evaluations of one recommendation, memoised by (capacity, replicas)."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        runtime: str,
        target: float,
        latency: str,
        max_replicas: int,
        horizon: float | None,
        policy: str | None,
    ) -> None:
        self.scenario = scenario
        self.pool = scenario.pool(runtime)
        self.runtime, self.target, self.latency = runtime, target, latency
        self.max_replicas = max_replicas
        self.horizon = scenario.horizon if horizon is None else horizon
        self.policy = policy
        self.points: list[Point] = []
        self.seen: dict[tuple[int, int], Point] = {}
        self.progress: Progress | None = None
        self.step = (0, 1)
        """(this capacity's index, how many capacities): for progress."""
        self.expected = math.ceil(math.log2(max_replicas + 1)) + 2
        """About how many evaluations one capacity takes (for progress only)."""
        self.evaluated = 0
        """Evaluations of the current capacity."""

    def smallest(self, capacity: int) -> Point | None:
        """The smallest size meeting the target at `capacity`, or None up to max_replicas."""
        start = math.ceil(self.pool.replicas * self.pool.slots / capacity)
        replicas = min(max(start, 1), self.max_replicas)
        self.evaluated = 0
        failing = 0  # the largest size known to miss (0: none, as 0 Pods run nothing)
        meeting = self.evaluate(capacity, replicas)
        while not meeting.met:
            failing = replicas
            if replicas >= self.max_replicas:
                return None
            replicas = min(replicas * 2, self.max_replicas)
            meeting = self.evaluate(capacity, replicas)
        while meeting.replicas - failing > 1:
            mid = (failing + meeting.replicas) // 2
            point = self.evaluate(capacity, mid)
            if point.met:
                meeting = point
            else:
                failing = mid
        return meeting

    def evaluate(self, capacity: int, replicas: int) -> Point:
        key = (capacity, replicas)
        if key in self.seen:
            return self.seen[key]
        label = f"{self.runtime}: {replicas} Pods x {capacity} runs"
        index, count = self.step
        done = self.evaluated
        self.evaluated += 1

        def tick(t: float) -> None:
            if self.progress is not None:
                within = min((done + min(t / self.horizon, 1.0)) / self.expected, 0.95)
                self.progress(label, (index + within) / count)

        result = Simulation(self.setup(capacity, replicas), seed=self.scenario.seed).run(
            self.scenario.arrivals(until=self.horizon),
            horizon=self.horizon,
            drain=self.scenario.drain,
            scenario=self.scenario.name,
            progress=tick,
        )
        point = self._point(result, capacity, replicas)
        self.seen[key] = point
        self.points.append(point)
        return point

    def setup(self, capacity: int, replicas: int) -> SimSetup:
        base = self.scenario.setup_for(self.policy)
        pools = tuple(
            evolve(
                p,
                replicas=replicas,
                capacity={**p.capacity, "runs": capacity},
                max_replicas=None,
            )
            if p.runtime == self.runtime
            else p
            for p in base.pools
        )
        return evolve(base, pools=pools)

    def _point(self, result: SimResult, capacity: int, replicas: int) -> Point:
        stats = result.runtimes.get(self.runtime)
        if stats is None or stats.arrived == 0:
            raise ScenarioError(
                f"{self.scenario.source or self.scenario.name}: recommend: no Runs of runtime "
                f"{self.runtime!r} arrive before the horizon ({format_seconds(self.horizon)})"
            )
        summary = getattr(stats.latency, self.latency)
        unfinished = sum(stats.unfinished.values())
        p99 = summary.p99 if summary.count else math.inf
        return Point(
            capacity=capacity,
            replicas=replicas,
            p99=p99,
            utilisation=stats.utilisation,
            unfinished=unfinished,
            arrived=stats.arrived,
            pod_seconds=result.pod_seconds,
            met=unfinished == 0 and p99 <= self.target,
        )


def _monotonicity_notes(points: tuple[Point, ...]) -> tuple[str, ...]:
    """A note per capacity where a size met the target below one that missed it."""
    notes = []
    for capacity in dict.fromkeys(p.capacity for p in points):
        row = sorted((p for p in points if p.capacity == capacity), key=lambda p: p.replicas)
        met = [p for p in row if p.met]
        missed_above = [p for p in row if not p.met and met and p.replicas > met[0].replicas]
        if missed_above:
            notes.append(
                f"p99 did not fall monotonically at {capacity} runs per Pod: "
                f"{met[0].replicas} Pods met the target but {missed_above[-1].replicas} did not; "
                f"the answer may not be the smallest (a longer recommend.horizon reduces noise)"
            )
    return tuple(notes)


def recommendation_table(rec: Recommendation) -> Table:
    """Every evaluated size, by capacity then replicas; the chosen one marked."""
    what = "end-to-end" if rec.latency == "end_to_end" else "queueing"
    if rec.met:
        verdict = (
            f"{rec.replicas} Pods x {rec.capacity} runs = {format_count(rec.slots)} slots "
            f"(p99 {format_seconds(rec.p99)})"
        )
    else:
        verdict = (
            f"no size up to {rec.max_replicas} Pods meets it; best: {rec.replicas} Pods x "
            f"{rec.capacity} runs (p99 {format_seconds(rec.p99)})"
        )
    table = Table(
        title=f"pool size for {rec.runtime}: {what} p99 <= {format_seconds(rec.target_p99)}: "
        f"{verdict}"
    )
    for name in ("runs/Pod", "Pods", "slots", f"{what} p99", "utilisation", "unfinished"):
        table.add_column(name, justify="right")
    table.add_column("meets")
    chosen = (rec.capacity, rec.replicas)
    for p in sorted(rec.points, key=lambda p: (p.capacity, p.replicas)):
        mark = "yes" if p.met else "no"
        if (p.capacity, p.replicas) == chosen:
            mark += "  <- chosen" if rec.met else "  <- best"
        table.add_row(
            format_count(p.capacity),
            format_count(p.replicas),
            format_count(p.slots),
            "—" if math.isinf(p.p99) else format_seconds(p.p99),
            format_percent(p.utilisation),
            format_count(p.unfinished),
            mark,
        )
    return table
