"""Arrival processes and workloads: determinism, order, statistics, streaming, scenario syntax."""

from __future__ import annotations

import itertools
import math
import random
import re
import statistics
import tracemalloc
from collections import Counter, deque
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kruntimes.sim.arrivals import (
    Arrival,
    ArrivalProcess,
    Burst,
    Diurnal,
    OnOff,
    Periodic,
    Poisson,
    Workload,
    merge,
    parse_process,
    parse_rate,
    parse_workload,
    scenario_arrivals,
    workload_rng,
)
from kruntimes.sim.distributions import Constant, Exponential, LogNormal, Uniform

DURATION = LogNormal.from_quantiles(0.12, 2.0)


def poisson_workload(rate: float = 100.0, **kwargs: object) -> Workload:
    return Workload("python", Poisson(rate), DURATION, **kwargs)  # type: ignore[arg-type]


def times(process: ArrivalProcess, until: float, seed: int = 1) -> list[float]:
    return list(process.times(random.Random(seed), until))


def test_arrival_defaults() -> None:
    a = Arrival(1.0, 2.0, "python")
    assert (a.requests, a.queue, a.priority, a.function) == (None, None, 0, "")
    with pytest.raises(AttributeError):
        a.at = 3.0  # type: ignore[misc]


# -- determinism ----------------------------------------------------------------------------


def test_same_seed_same_stream() -> None:
    w = poisson_workload()
    first = list(w.stream(workload_rng(42, 0), until=100))
    assert first == list(w.stream(workload_rng(42, 0), until=100))
    assert first != list(w.stream(workload_rng(43, 0), until=100))
    assert first != list(w.stream(workload_rng(42, 1), until=100))


def test_workload_rng_is_the_documented_derivation() -> None:
    assert workload_rng(7, 2).random() == random.Random("7:2").random()


def test_adding_a_workload_leaves_the_others_streams_alone() -> None:
    a = poisson_workload(50.0)
    b = Workload("node", Poisson(80.0), Exponential(0.5))
    c = Workload("go", Burst(5.0, 300, 2.0), Constant(1.0))
    alone = list(scenario_arrivals([a, b], seed=9, until=30))
    more = list(scenario_arrivals([a, b, c], seed=9, until=30))
    assert [x for x in more if x.runtime != "go"] == alone
    assert sum(x.runtime == "go" for x in more) == 300


def test_durations_do_not_move_arrival_times() -> None:
    rng_a, rng_b = workload_rng(1, 0), workload_rng(1, 0)
    a = Workload("p", Poisson(20.0), Constant(1.0)).stream(rng_a, until=50)
    b = Workload("p", Poisson(20.0), Exponential(3.0)).stream(rng_b, until=50)
    assert [x.at for x in a] == [x.at for x in b]


# -- order ----------------------------------------------------------------------------------

PROCESSES: list[ArrivalProcess] = [
    Poisson(50.0),
    OnOff(rate_on=200.0, rate_off=5.0, mean_on=2.0, mean_off=8.0),
    OnOff(rate_on=200.0, rate_off=0.0, mean_on=1.0, mean_off=4.0),
    Diurnal(mean_rate=30.0, amplitude=0.8, period=60.0, peak_at=10.0),
    Burst(count=500, at=3.0, spread=4.0),
    Burst(count=50, at=1.0, spread=2.0, every=10.0),
    Burst(count=10, at=2.0),
    Periodic(interval=0.5, jitter=0.5, start=1.0),
]


@pytest.mark.parametrize("process", PROCESSES, ids=repr)
def test_times_are_ordered_and_before_until(process: ArrivalProcess) -> None:
    ts = times(process, 60.0)
    assert ts
    assert all(0.0 <= t < 60.0 for t in ts)
    assert ts == sorted(ts)


@settings(max_examples=40, deadline=None)
@given(
    rate=st.floats(0.0, 500.0),
    amplitude=st.floats(0.0, 1.0),
    count=st.integers(0, 200),
    spread=st.floats(0.0, 20.0),
    until=st.floats(0.0, 30.0),
    seed=st.integers(0, 2**32),
)
def test_any_process_streams_in_order(
    rate: float, amplitude: float, count: int, spread: float, until: float, seed: int
) -> None:
    procs: list[ArrivalProcess] = [
        Poisson(rate),
        OnOff(rate, rate / 10, 1.0 + spread, 2.0),
        Diurnal(rate, amplitude, period=7.0 + spread),
        Burst(spread / 2, count, spread, every=spread + 1.0),
        Periodic(interval=1.0 + spread, jitter=spread / 2),
    ]
    for p in procs:
        ts = times(p, until, seed)
        assert ts == sorted(ts)
        assert all(0.0 <= t < until for t in ts)


def test_runs_caps_the_stream_and_until_cuts_it() -> None:
    capped = list(poisson_workload(runs=250).stream(workload_rng(1, 0), until=math.inf))
    assert len(capped) == 250
    assert list(poisson_workload(runs=0).stream(workload_rng(1, 0), until=10)) == []
    cut = list(poisson_workload(runs=10_000).stream(workload_rng(1, 0), until=5))
    assert 300 < len(cut) < 700
    assert max(a.at for a in cut) < 5


def test_stream_carries_the_workload_fields() -> None:
    w = Workload(
        "gpu", Poisson(10.0), Uniform(1, 2), {"runs": 1, "gpu": 2}, "batch", 7, function="f"
    )
    a = next(w.stream(workload_rng(1, 0), until=100))
    assert (a.runtime, dict(a.requests or {}), a.queue, a.priority, a.function) == (
        "gpu",
        {"runs": 1, "gpu": 2},
        "batch",
        7,
        "f",
    )
    assert 1.0 <= a.duration <= 2.0
    with pytest.raises(TypeError):
        w.requests["gpu"] = 3  # type: ignore[index]


def test_merge_is_sorted_and_stable() -> None:
    a = [Arrival(t, 0.0, "a") for t in (0.0, 1.0, 1.0, 3.0)]
    b = [Arrival(t, 0.0, "b") for t in (1.0, 2.0, 3.0)]
    merged = list(merge([iter(a), iter(b)]))
    assert [(x.at, x.runtime) for x in merged] == [
        (0.0, "a"),
        (1.0, "a"),
        (1.0, "a"),
        (1.0, "b"),
        (2.0, "b"),
        (3.0, "a"),
        (3.0, "b"),
    ]
    assert list(merge([iter(a)])) == a
    assert list(merge([])) == []


# -- statistics -----------------------------------------------------------------------------


def test_poisson_count_and_gaps() -> None:
    ts = times(Poisson(100.0), 1000.0)
    assert len(ts) == pytest.approx(100_000, rel=0.02)
    gaps = [b - a for a, b in itertools.pairwise(ts)]
    assert statistics.fmean(gaps) == pytest.approx(0.01, rel=0.02)
    assert statistics.stdev(gaps) == pytest.approx(0.01, rel=0.03)  # exponential: sd == mean


def window_counts(ts: list[float], width: float, until: float) -> list[int]:
    counts = Counter(int(t // width) for t in ts)
    return [counts.get(i, 0) for i in range(int(until // width))]


def test_onoff_mean_rate_and_burstiness() -> None:
    p = OnOff(rate_on=100.0, rate_off=0.0, mean_on=1.0, mean_off=4.0)
    assert p.mean_rate == 20.0
    ts = times(p, 5000.0)
    assert len(ts) == pytest.approx(p.expected_count(5000.0), rel=0.05)
    counts = window_counts(ts, 1.0, 5000.0)
    dispersion = statistics.variance(counts) / statistics.fmean(counts)
    assert dispersion > 10  # Poisson has 1: arrivals come in bursts
    assert counts.count(0) > 0.5 * len(counts)  # mostly off
    poisson = window_counts(times(Poisson(20.0), 5000.0), 1.0, 5000.0)
    assert statistics.variance(poisson) / statistics.fmean(poisson) == pytest.approx(1, abs=0.1)


def test_diurnal_thinning_follows_the_cosine() -> None:
    p = Diurnal(mean_rate=50.0, amplitude=0.6, period=100.0, peak_at=25.0)
    until = 2000.0
    ts = times(p, until)
    assert len(ts) == pytest.approx(p.expected_count(until), rel=0.02)
    # Counts per tenth of the period, folded over the 20 periods, against the integral.
    bins = Counter(int((t % 100.0) // 10) for t in ts)
    for i in range(10):
        a, b = 10.0 * i, 10.0 * (i + 1)
        expected = 20 * (p.expected_count(b) - p.expected_count(a))
        assert bins[i] == pytest.approx(expected, rel=0.06)
    assert bins[2] > 3 * bins[7]  # the peak (t = 25) against the trough (t = 75)
    assert p.rate(25.0) == pytest.approx(80.0)
    assert p.rate(75.0) == pytest.approx(20.0)


def test_diurnal_expected_count_integrates_the_rate() -> None:
    p = Diurnal(mean_rate=10.0, amplitude=0.5, period=86400.0, peak_at=3600.0)
    n, until = 10_000, 7200.0
    riemann = sum(p.rate((i + 0.5) * until / n) for i in range(n)) * until / n
    assert p.expected_count(until) == pytest.approx(riemann, rel=1e-6)
    assert p.expected_count(86400.0) == pytest.approx(864_000.0)


def test_burst_is_count_runs_spread_uniformly() -> None:
    p = Burst(count=20_000, at=10.0, spread=5.0)
    ts = times(p, 100.0)
    assert len(ts) == 20_000
    assert ts[0] >= 10.0
    assert ts[-1] < 15.0
    assert statistics.fmean(ts) == pytest.approx(12.5, abs=0.05)
    assert max(window_counts([t - 10.0 for t in ts], 1.0, 5.0)) < 4400  # ~4000 per second
    assert times(Burst(count=5, at=2.0), 10.0) == [2.0] * 5
    assert len(times(p, 12.5)) == pytest.approx(10_000, rel=0.03)
    assert p.expected_count(12.5) == 10_000


def test_burst_repeats_every() -> None:
    ts = times(Burst(count=10, at=1.0, spread=2.0, every=10.0), 35.0)
    assert len(ts) == 40
    assert Counter(int(t // 10) for t in ts) == {0: 10, 1: 10, 2: 10, 3: 10}


def test_periodic() -> None:
    assert times(Periodic(interval=2.0, start=1.0), 9.0) == [1.0, 3.0, 5.0, 7.0]
    ts = times(Periodic(interval=2.0, jitter=1.0), 100.0)
    assert len(ts) == 50
    assert all(2 * k <= t < 2 * k + 1 for k, t in enumerate(ts))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Poisson(-1), "rate must be a finite number >= 0"),
        (lambda: Diurnal(1, 1.5), "amplitude must be within 0..1"),
        (lambda: OnOff(1, 0, 0, 1), "mean_on must be a finite number > 0"),
        (lambda: Burst(0, 10, spread=5, every=2), "every (2 s) must be at least spread (5 s)"),
        (lambda: Periodic(1, jitter=2), "jitter (2 s) must not exceed interval (1 s)"),
        (lambda: Workload("p", Poisson(1), Constant(1), runs=-1), "runs must be"),
    ],
)
def test_invalid_processes_are_rejected(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        make()  # type: ignore[operator]


# -- streaming ------------------------------------------------------------------------------


def peak_memory(stream: Iterator[Arrival]) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()  # if something else traces already
    base = tracemalloc.get_traced_memory()[0]
    try:
        deque(stream, maxlen=0)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_arrivals() -> None:
    ws = [
        poisson_workload(1000.0),
        Workload("b", OnOff(2000.0, 10.0, 1.0, 3.0), Exponential(1.0)),
        Workload("c", Diurnal(500.0, 0.5, period=60.0), Constant(1.0)),
        Workload("d", Burst(0.0, 40_000, 40.0), Constant(1.0)),
    ]
    # the least of three: tracemalloc counts every allocation of the process, and threads
    # other tests left running (a watch, a server) allocate now and then
    small = min(peak_memory(scenario_arrivals(ws, seed=1, until=4.0)) for _ in range(3))
    large = min(peak_memory(scenario_arrivals(ws, seed=1, until=40.0)) for _ in range(3))
    assert large < small * 1.5 + 16_384  # ~6,000 against ~60,000 arrivals


# -- scenario syntax ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        (200, 200.0),
        (0.5, 0.5),
        ("200", 200.0),
        ("200/s", 200.0),
        ("12000/min", 200.0),
        ("12000 / mins", 200.0),
        ("1e6/h", 1e6 / 3600),
        ("86400/day", 1.0),
        ("5/10s", 0.5),
        ("1/ms", 1000.0),
        ("3/1m", 0.05),
    ],
)
def test_parse_rate(text: object, rate: float) -> None:
    assert parse_rate(text, what="w") == pytest.approx(rate)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fast", "w: invalid rate 'fast'"),
        ("200/fortnight", "unknown unit 'fortnight'"),
        (-3, "rate must be a finite number >= 0"),
        (True, "expected a rate"),
        ("5/0s", "the period must be > 0"),
    ],
)
def test_parse_rate_errors(text: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_rate(text, what="w")


def test_parse_workload_full() -> None:
    w = parse_workload(
        {
            "runtime": "python",
            "arrivals": {"poisson": {"rate": "12000/min"}},
            "duration": {"lognormal": {"p50": "120ms", "p99": "2s"}},
            "requests": {"runs": 1, "gpu": "2"},
            "queue": "batch",
            "priority": 5,
            "runs": 1000,
            "function": "resize",
        },
        what="workloads[0]",
    )
    assert w == Workload(
        "python",
        Poisson(200.0),
        LogNormal.from_quantiles(0.12, 2.0),
        {"runs": 1, "gpu": 2},
        "batch",
        5,
        1000,
        "resize",
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"onoff": {"rateOn": "500/s", "meanOn": "10s", "meanOff": "50s"}},
            OnOff(500.0, 0.0, 10.0, 50.0),
        ),
        ({"diurnal": {"meanRate": 100, "amplitude": 0.5}}, Diurnal(100.0, 0.5)),
        (
            {"diurnal": {"meanRate": 1, "amplitude": 1, "period": "1h", "peakAt": "30m"}},
            Diurnal(1.0, 1.0, 3600.0, 1800.0),
        ),
        ({"burst": {"count": 500, "at": "60s", "spread": "5s"}}, Burst(60.0, 500, 5.0)),
        ({"burst": {"count": 5, "every": "1h"}}, Burst(0.0, 5, 0.0, 3600.0)),
        ({"periodic": {"interval": "1m", "jitter": "5s"}}, Periodic(60.0, 5.0)),
    ],
)
def test_parse_process(spec: object, expected: ArrivalProcess) -> None:
    assert parse_process(spec, what="w") == expected


def minimal(**changes: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "runtime": "python",
        "arrivals": {"poisson": {"rate": 10}},
        "duration": "1s",
    }
    spec.update(changes)
    return {k: v for k, v in spec.items() if v is not None}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            minimal(rate=3),
            "workloads[2]: unknown key 'rate'; expected any of runtime, arrivals, duration, "
            "requests, queue, priority, runs, function",
        ),
        (minimal(runtime=None), "workloads[2]: missing 'runtime'"),
        (
            minimal(arrivals={"poison": {"rate": 1}}),
            "workloads[2].arrivals: unknown arrival process 'poison' (did you mean 'poisson'?); "
            "expected one of burst, diurnal, onoff, periodic, poisson",
        ),
        (
            minimal(arrivals={"poisson": {"rate": "fast"}}),
            "workloads[2].arrivals.poisson.rate: invalid rate 'fast'",
        ),
        (
            minimal(arrivals={"poisson": 5}),
            "workloads[2].arrivals.poisson: expected a mapping like {rate: 200/s}",
        ),
        (
            minimal(arrivals={"diurnal": {"meanRate": 1, "amplitude": 2}}),
            "workloads[2].arrivals.diurnal.amplitude: must be within 0..1",
        ),
        (
            minimal(arrivals={"burst": {"count": 10, "spread": "5s", "every": "1s"}}),
            "workloads[2].arrivals.burst: every (1 s) must be at least spread (5 s)",
        ),
        (minimal(duration={"lognorml": {}}), "workloads[2].duration: unknown distribution"),
        (
            minimal(requests={"cpu": "500m"}),
            "workloads[2].requests.cpu: must be a whole number (resources are integers)",
        ),
        (minimal(priority=True), "workloads[2].priority: expected an integer"),
        (minimal(runs=-5), "workloads[2].runs: must not be negative"),
        (minimal(runs="many"), "workloads[2].runs: expected a whole number"),
        (minimal(queue=""), "workloads[2].queue: expected a non-empty name"),
        ([1], "workloads[2]: expected a mapping"),
    ],
)
def test_parse_workload_errors_name_the_place(spec: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_workload(spec, what="workloads[2]")


def test_silent_processes_end_even_without_until() -> None:
    for p in (Poisson(0), OnOff(0, 0, 1, 1), Diurnal(0, 0.5), Burst(0.0, 0)):
        assert times(p, math.inf) == []


def test_workloads_are_hashable_values() -> None:
    a = parse_workload(minimal(requests={"runs": 2}), what="w")
    b = parse_workload(minimal(requests={"runs": 2}), what="w")
    assert a == b
    assert hash(a) == hash(b)
