"""sim_validation: the simulator's latency distributions against the embedded engine's.

One seeded workload runs twice: in real time on the embedded engine, and in virtual time
on `kruntimes.sim.Simulation`; the two latency distributions are compared.

- **Workload**: `runs` Runs of the `python` runtime (warm pre-forked workers), Poisson
  arrivals at `rate` per second, each Run's source `time.sleep(d)` with `d` uniform on
  [20 ms, 200 ms] (rounded to the microsecond). Pool: 2 Pods x capacity `runs: 2` (4
  slots; offered load about 0.7 of them), so some Runs queue.
- **embedded**: `EmbeddedEngine` (SQLite store, the default of `krt up`; engine, agents and
  submitter in one trio process; the Runtime Servers are child processes). After a warm-up
  (every worker ran something) and the calibration below, each Run is created at its
  arrival instant (`trio.sleep_until`). Per Run, from the status the engine wrote (all
  `time.time()` wall clock, microsecond precision): submitted = `metadata.creationTimestamp`
  (the store's), bound = the `Scheduled=True/Assigned` condition's transition time (the
  scheduler cycle's clock), started = `status.startTime` (the agent's claim), completed =
  `status.completionTime`. queueing = bound - submitted, dispatch = started - bound,
  end_to_end = completed - submitted.
- **Calibration** (independent of the measured run): before the workload, `calibration`
  Runs on the idle engine one at a time (each submitted after the previous ended, plus a
  20 ms gap), sleeps from another seed. It yields the simulator's `dispatch` distribution
  (`Empirical` of the bind -> start samples) and the per-execution overhead samples,
  (completed - started) - sleep: each simulated duration is the Run's sleep plus one
  overhead drawn from them (seeded; `--overhead median` adds their median to every Run
  instead). The idle submit -> bind samples are the simulator's `reaction` (`Empirical`):
  the time from a change (a Run created, a Run ended) to the cycle that sees it.
- **simulated**: `Simulation(SimSetup(pools=(PoolSpec("python", 2, capacity={"runs": 2}),),
  dispatch=...))` on the same arrivals: the instants are the engine's recorded
  `creationTimestamp`s (relative to the first), so the lateness of the real-time submitter
  is not counted as a difference; durations = sleep + overhead. Per-Run times come from the
  simulator's metrics hook (`Metrics.run_done`), so both sides' percentiles are computed the
  same way, from samples (nearest rank).
- **Reported**: p50 / p90 / p99 per metric and system (`added` = end_to_end - sleep, what
  the system adds to the Run's own work, is a fourth metric); per metric the difference
  simulated - embedded (ms) and relative to embedded; `ks_end_to_end`, the two-sample
  Kolmogorov-Smirnov distance sup|F_emb - F_sim| of the end-to-end samples, with the
  5 % critical value 1.358 * sqrt((n + m) / (n m)) for scale; `p99_relative_error`, the
  end-to-end p99's. Also the overhead the measured Runs had (not used by the simulation),
  the rebind lag (for each Run that waited > 5 ms: its bind - the last completion before
  it), how late the submitter was, and the load average.

    python benchmarks/sim_validation.py [--quick] [--json] [--runs N] [--rate R] [--seed S]
                                        [--overhead empirical|median]
"""

from __future__ import annotations

import argparse
import bisect
import functools
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import trio
from attrs import evolve, frozen

from kruntimes.engine.embedded import EmbeddedEngine, EngineConfig
from kruntimes.logs_config import configure_logging
from kruntimes.model import (
    ConditionReason,
    ConditionStatus,
    ConditionType,
    ObjectMeta,
    Phase,
    Run,
    RunSource,
    RunSpec,
    Runtime,
    RuntimeSpec,
)
from kruntimes.sim.arrivals import Arrival, Poisson, Workload, scenario_arrivals
from kruntimes.sim.distributions import Empirical, Uniform
from kruntimes.sim.engine import Simulation
from kruntimes.sim.metrics import Metrics
from kruntimes.sim.setup import PoolSpec, SimSetup
from kruntimes.store import Store

RUNTIME = "python"
PODS = 2
CAPACITY = 2
RATE = 25.0
SLEEP = Uniform(0.020, 0.200)
METRICS = ("queueing", "dispatch", "end_to_end", "added")
KS_C_05 = 1.358
"""c(alpha) of the two-sample KS test at alpha = 0.05."""


# -- workload -----------------------------------------------------------------------------


def workload(runs: int, rate: float, seed: int) -> list[Arrival]:
    """The intended schedule: Poisson arrivals, sleeps uniform on [20, 200] ms (to the µs)."""
    work = Workload(runtime=RUNTIME, process=Poisson(rate), duration=SLEEP, runs=runs)
    arrivals = scenario_arrivals([work], seed=seed, until=math.inf)
    return [Arrival(a.at, round(a.duration, 6), a.runtime) for a in arrivals]


def sleeper(name: str, seconds: float) -> Run:
    source = RunSource(inline=f"import time\ntime.sleep({seconds:.6f})\n")
    return Run(ObjectMeta(name=name), RunSpec(runtime=RUNTIME, source=source))


# -- the embedded engine ------------------------------------------------------------------


@frozen
class Timeline:
    """One Run's instants, in seconds (engine: epoch wall clock; simulation: virtual)."""

    submitted: float
    bound: float
    started: float
    completed: float
    sleep: float = 0.0

    @property
    def queueing(self) -> float:
        return self.bound - self.submitted

    @property
    def dispatch(self) -> float:
        return self.started - self.bound

    @property
    def end_to_end(self) -> float:
        return self.completed - self.submitted

    @property
    def execution(self) -> float:
        return self.completed - self.started

    @property
    def added(self) -> float:
        """end_to_end - sleep: what the system adds to the Run's own work."""
        return self.end_to_end - self.sleep


def timeline(run: Run, sleep: float) -> Timeline:
    """The instants the store, the scheduler and the agent wrote into `run`."""
    status = run.status
    scheduled = status.condition(ConditionType.SCHEDULED)
    created = run.metadata.creation_timestamp
    if (
        status.phase is not Phase.SUCCEEDED
        or created is None
        or scheduled is None
        or scheduled.status != ConditionStatus.TRUE
        or scheduled.reason != ConditionReason.ASSIGNED
        or scheduled.last_transition_time is None
        or status.start_time is None
        or status.completion_time is None
        or status.attempt != 1
    ):
        raise RuntimeError(f"{run.metadata.name}: no clean timeline ({status.phase.value})")
    return Timeline(
        created.timestamp(),
        scheduled.last_transition_time.timestamp(),
        status.start_time.timestamp(),
        status.completion_time.timestamp(),
        sleep,
    )


class Finished:
    """Every Run's terminal version, from one watch; `wait` for a set of names."""

    def __init__(self) -> None:
        self.runs: dict[str, Run] = {}
        self._events: dict[str, trio.Event] = {}

    async def watch(self, store: Store, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        listing = await store.list_runs()
        async with store.watch_runs(listing.resource_version) as events:
            task_status.started()
            async for event in events:
                run = event.object
                if run is None or not run.status.phase.is_terminal:
                    continue
                name = run.metadata.name
                if name not in self.runs:
                    self.runs[name] = run
                    waiter = self._events.pop(name, None)
                    if waiter is not None:
                        waiter.set()

    async def wait(self, names: Iterable[str]) -> None:
        for name in names:
            if name not in self.runs:
                done = self._events[name] = trio.Event()
                await done.wait()


@frozen
class EngineMeasurement:
    calibration: tuple[Timeline, ...]
    runs: tuple[Timeline, ...]
    """In arrival (creation) order."""
    submit_lag: tuple[float, ...]
    """Seconds each Run was created after its intended instant."""
    load_average: tuple[float, float]
    """1-minute load average before and after the measured run."""


async def measure_engine(
    arrivals: Sequence[Arrival],
    calibration_runs: int,
    *,
    pods: int = PODS,
    capacity: int = CAPACITY,
    seed: int = 1,
) -> EngineMeasurement:
    """Warm up, calibrate on the idle engine, then run `arrivals` in real time."""
    runtime = Runtime(
        ObjectMeta(name=RUNTIME), RuntimeSpec(replicas=pods, capacity={"runs": capacity})
    )
    with tempfile.TemporaryDirectory() as tmp:
        config = EngineConfig(
            state_dir=Path(tmp), runtimes=(runtime,), serve=False, load_entry_points=False
        )
        engine = EmbeddedEngine(config)
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            await engine.wait_until_ready()
            store = engine.store
            assert store is not None
            finished = Finished()
            await nursery.start(finished.watch, store)

            warm = [f"warm-{i}" for i in range(4 * pods * capacity)]
            for name in warm:  # concurrently: every worker of every Pod runs one
                await store.create(sleeper(name, 0.05))
            await finished.wait(warm)
            await trio.sleep(0.5)

            rng = random.Random(f"sim-validation-calibration:{seed}")
            calibration = []
            for i in range(calibration_runs):
                sleep = round(SLEEP.sample(rng), 6)
                name = f"cal-{i:04d}"
                await store.create(sleeper(name, sleep))
                await finished.wait([name])
                calibration.append(timeline(finished.runs[name], sleep))
                await trio.sleep(0.02)
            await trio.sleep(0.5)

            load_before = os.getloadavg()[0]
            names = [f"run-{i:05d}" for i in range(len(arrivals))]
            epoch = time.time() - trio.current_time()  # trio clock -> wall clock
            t0 = trio.current_time() + 0.1
            for name, arrival in zip(names, arrivals, strict=True):
                await trio.sleep_until(t0 + arrival.at)
                await store.create(sleeper(name, arrival.duration))
            await finished.wait(names)
            load_after = os.getloadavg()[0]
            nursery.cancel_scope.cancel()

    runs = [timeline(finished.runs[n], a.duration) for n, a in zip(names, arrivals, strict=True)]
    lag = tuple(r.submitted - (epoch + t0 + a.at) for r, a in zip(runs, arrivals, strict=True))
    return EngineMeasurement(tuple(calibration), tuple(runs), lag, (load_before, load_after))


# -- the simulation -----------------------------------------------------------------------


@frozen
class Calibration:
    dispatch: tuple[float, ...]
    """Bind -> start samples (seconds) of the calibration Runs."""
    overheads: tuple[float, ...]
    """(completed - started) - sleep samples: what executing costs beyond the sleep."""
    idle_queueing: tuple[float, ...]
    """Submit -> bind on the idle engine (reported; the simulator binds at the arrival)."""

    @property
    def overhead(self) -> float:
        """The median overhead (the `median` mode's constant)."""
        return statistics.median(self.overheads)


def calibrate(samples: Sequence[Timeline]) -> Calibration:
    return Calibration(
        dispatch=tuple(max(0.0, t.dispatch) for t in samples),
        overheads=tuple(max(0.0, t.execution - t.sleep) for t in samples),
        idle_queueing=tuple(t.queueing for t in samples),
    )


class _Recording(Metrics):
    """The simulator's metrics, keeping every Run's instants as well."""

    def __init__(self, *, bucket_seconds: float) -> None:
        super().__init__(bucket_seconds=bucket_seconds)
        self.timelines: list[Timeline] = []

    def run_done(
        self,
        runtime: str,
        arrived: float,
        bound: float,
        started: float,
        finished: float,
        outcome: str,
        warm: bool,
        attempts: int,
    ) -> None:
        self.timelines.append(Timeline(arrived, bound, started, finished))
        super().run_done(runtime, arrived, bound, started, finished, outcome, warm, attempts)


def simulate(
    measured: Sequence[Timeline],
    calibration: Calibration,
    *,
    pods: int = PODS,
    capacity: int = CAPACITY,
    seed: int = 1,
    overhead: str = "empirical",
) -> list[Timeline]:
    """The measured Runs' arrival instants and sleeps, simulated as `calibration` says.

    Each duration is the sleep plus an overhead: a draw from the calibration's samples
    (`empirical`, seeded), or their median for every Run (`median`).
    """
    if overhead == "median":
        draw = functools.partial(float, calibration.overhead)
    elif overhead == "empirical":
        rng = random.Random(f"sim-validation-overhead:{seed}")
        draw = functools.partial(rng.choice, calibration.overheads)
    else:
        raise ValueError(f"overhead must be empirical or median, not {overhead!r}")
    first = measured[0].submitted
    arrivals = [Arrival(t.submitted - first, t.sleep + draw(), RUNTIME) for t in measured]
    setup = SimSetup(
        pools=(PoolSpec(RUNTIME, pods, capacity={"runs": capacity}),),
        dispatch=Empirical(calibration.dispatch),
        reaction=Empirical(tuple(max(0.0, q) for q in calibration.idle_queueing)),
    )
    horizon = arrivals[-1].at + 1.0
    metrics = _Recording(bucket_seconds=max(horizon / 500.0, 1e-3))
    result = Simulation(setup, seed=seed).run(arrivals, horizon=horizon, metrics=metrics)
    if result.succeeded != len(arrivals) or len(metrics.timelines) != len(arrivals):
        raise RuntimeError(f"simulated {result.succeeded} of {len(arrivals)} Runs")
    ordered = sorted(metrics.timelines, key=lambda t: t.submitted)
    # the instants are distinct (microseconds apart at least), so order pairs them up
    return [evolve(t, sleep=m.sleep) for t, m in zip(ordered, measured, strict=True)]


# -- comparing ----------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (the smallest sample with at least q of them at or below)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def ks_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sample Kolmogorov-Smirnov distance: sup over x of |F_a(x) - F_b(x)|."""
    xs, ys = sorted(a), sorted(b)
    n, m = len(xs), len(ys)
    if not n or not m:
        return 0.0
    i = j = 0
    worst = 0.0
    while i < n and j < m:
        x = min(xs[i], ys[j])
        while i < n and xs[i] <= x:  # step past ties on both sides before comparing
            i += 1
        while j < m and ys[j] <= x:
            j += 1
        worst = max(worst, abs(i / n - j / m))
    return worst


def _ms(seconds: float) -> float:
    return round(seconds * 1e3, 3)


def summary(system: str, timelines: Sequence[Timeline]) -> list[dict[str, Any]]:
    rows = []
    for metric in METRICS:
        values = [getattr(t, metric) for t in timelines]
        rows.append(
            {
                "system": system,
                "metric": metric,
                "runs": len(values),
                "mean_ms": _ms(statistics.fmean(values)),
                "p50_ms": _ms(percentile(values, 0.50)),
                "p90_ms": _ms(percentile(values, 0.90)),
                "p99_ms": _ms(percentile(values, 0.99)),
                "max_ms": _ms(max(values)),
            }
        )
    return rows


def _relative(simulated: float, embedded: float) -> float | None:
    return round((simulated - embedded) / embedded, 4) if embedded else None


def compare(embedded: Sequence[Timeline], simulated: Sequence[Timeline]) -> dict[str, Any]:
    rows = summary("embedded", embedded) + summary("simulated", simulated)
    ours = {r["metric"]: r for r in rows if r["system"] == "embedded"}
    sims = {r["metric"]: r for r in rows if r["system"] == "simulated"}
    differences = []
    for metric in METRICS:
        diff: dict[str, Any] = {"metric": metric}
        for p in ("p50", "p90", "p99"):
            e, s = ours[metric][f"{p}_ms"], sims[metric][f"{p}_ms"]
            diff[f"{p}_diff_ms"] = round(s - e, 3)
            diff[f"{p}_relative_error"] = _relative(s, e)
        a = [getattr(t, metric) for t in embedded]
        b = [getattr(t, metric) for t in simulated]
        diff["ks"] = round(ks_distance(a, b), 4)
        differences.append(diff)
    e2e = [t.end_to_end for t in embedded]
    sim_e2e = [t.end_to_end for t in simulated]
    n, m = len(e2e), len(sim_e2e)
    paired = [abs(s - e) for s, e in zip(sim_e2e, e2e, strict=True)]
    return {
        "results": rows,
        "differences": differences,
        "ks_end_to_end": round(ks_distance(e2e, sim_e2e), 4),
        "ks_critical_05": round(KS_C_05 * math.sqrt((n + m) / (n * m)), 4),
        "p99_relative_error": _relative(sims["end_to_end"]["p99_ms"], ours["end_to_end"]["p99_ms"]),
        "paired_end_to_end_abs_diff_p50_ms": _ms(percentile(paired, 0.5)),
        "paired_end_to_end_abs_diff_p99_ms": _ms(percentile(paired, 0.99)),
        "rebind_lag_ms": {
            system: {
                f"p{q}": _ms(percentile(lags, q / 100)) if lags else None for q in (50, 90, 99)
            }
            for system, lags in (
                ("embedded", rebind_lag(embedded)),
                ("simulated", rebind_lag(simulated)),
            )
        },
        "queued_fraction": {
            "embedded": round(sum(t.queueing > 0.005 for t in embedded) / n, 3),
            "simulated": round(sum(t.queueing > 0.005 for t in simulated) / m, 3),
        },
    }


def rebind_lag(runs: Sequence[Timeline], *, queued: float = 0.005) -> list[float]:
    """For each Run that waited more than `queued` seconds: its bind - the last completion
    before it (the Run whose end made room). The simulator rebinds at that very instant."""
    ends = sorted(t.completed for t in runs)
    lags = []
    for t in runs:
        if t.queueing > queued:
            i = bisect.bisect_right(ends, t.bound)
            if i:
                lags.append(t.bound - ends[i - 1])
    return lags


def calibration_report(samples: Sequence[Timeline], cal: Calibration) -> dict[str, Any]:
    overheads = [t.execution - t.sleep for t in samples]
    return {
        "runs": len(samples),
        "dispatch_p50_ms": _ms(percentile(cal.dispatch, 0.5)),
        "dispatch_p99_ms": _ms(percentile(cal.dispatch, 0.99)),
        "overhead_p50_ms": _ms(percentile(overheads, 0.5)),
        "overhead_p90_ms": _ms(percentile(overheads, 0.9)),
        "overhead_mean_ms": _ms(statistics.fmean(overheads)),
        "idle_queueing_p50_ms": _ms(percentile(cal.idle_queueing, 0.5)),
        "idle_queueing_p99_ms": _ms(percentile(cal.idle_queueing, 0.99)),
    }


def in_run_overhead(runs: Sequence[Timeline]) -> dict[str, float]:
    """(completed - started) - sleep of the measured Runs: what the calibration stood for."""
    overheads = [t.execution - t.sleep for t in runs]
    return {f"p{q}_ms": _ms(percentile(overheads, q / 100)) for q in (50, 90, 99)}


def validate(
    runs: int, calibration_runs: int, rate: float, seed: int, overhead: str = "empirical"
) -> dict[str, Any]:
    arrivals = workload(runs, rate, seed)
    measured = trio.run(functools.partial(measure_engine, seed=seed), arrivals, calibration_runs)
    cal = calibrate(measured.calibration)
    simulated = simulate(measured.runs, cal, seed=seed, overhead=overhead)
    mean_overhead = statistics.fmean(cal.overheads) if overhead == "empirical" else cal.overhead
    report = {
        "benchmark": "sim_validation",
        "workload": {
            "runs": runs,
            "rate_per_s": rate,
            "sleep": f"uniform {SLEEP.low * 1e3:g}-{SLEEP.high * 1e3:g} ms",
            "pods": PODS,
            "capacity_runs": CAPACITY,
            "offered_load": round(rate * (SLEEP.mean + mean_overhead) / (PODS * CAPACITY), 3),
            "seed": seed,
        },
        "overhead_model": overhead,
        "calibration": calibration_report(measured.calibration, cal),
        "in_run_overhead": in_run_overhead(measured.runs),
        "submit_lag_p50_ms": _ms(percentile(measured.submit_lag, 0.5)),
        "submit_lag_max_ms": _ms(max(measured.submit_lag)),
        "load_average_1m": [round(v, 2) for v in measured.load_average],
        **compare(measured.runs, simulated),
    }
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="Simulator vs embedded engine, same workload")
    parser.add_argument("--quick", action="store_true", help="100 Runs instead of 400")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--runs", type=int, default=None, help="Runs in the workload")
    parser.add_argument("--rate", type=float, default=RATE, help="arrivals per second")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--overhead",
        choices=("empirical", "median"),
        default="empirical",
        help="simulated execution overhead: resampled calibration samples, or their median",
    )
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    runs = args.runs or (100 if args.quick else 400)
    calibration_runs = 30 if args.quick else 100
    report = validate(runs, calibration_runs, args.rate, args.seed, args.overhead)
    if args.json:
        print(json.dumps(report))
    else:
        _print_table(report)
    return report


def _print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="sim_validation: embedded engine vs simulator (ms)")
    for key in ("metric", "system", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "max_ms"):
        table.add_column(key, justify="left" if key in ("metric", "system") else "right")
    for metric in METRICS:
        for row in report["results"]:
            if row["metric"] == metric:
                table.add_row(
                    metric,
                    row["system"],
                    *(str(row[k]) for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "max_ms")),
                )
        diff = next(d for d in report["differences"] if d["metric"] == metric)
        table.add_row(
            metric,
            "sim - emb",
            *(str(diff[f"{p}_diff_ms"]) for p in ("p50", "p90", "p99")),
            "",
            f"KS {diff['ks']}",
        )
    console = Console()
    console.print(table)
    cal = report["calibration"]
    print(
        f"calibration ({cal['runs']} idle Runs): dispatch p50 {cal['dispatch_p50_ms']} ms, "
        f"p99 {cal['dispatch_p99_ms']} ms; overhead p50 {cal['overhead_p50_ms']} ms, "
        f"p90 {cal['overhead_p90_ms']} ms ({report['overhead_model']}); "
        f"idle submit->bind p50 {cal['idle_queueing_p50_ms']} ms"
    )
    print(
        f"end-to-end KS distance {report['ks_end_to_end']} "
        f"(5 % critical value {report['ks_critical_05']}); "
        f"p99 relative error {report['p99_relative_error']}; "
        f"submit lag max {report['submit_lag_max_ms']} ms; load {report['load_average_1m']}",
        file=sys.stdout,
    )


if __name__ == "__main__":
    main()
