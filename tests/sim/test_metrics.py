"""kruntimes.sim.metrics: streaming histograms, counts, samples and what `result()` makes of them.

Every expected value is computed from the inputs the test feeds (sorting,
summing, integrating by hand), never copied from a previous run.
"""

from __future__ import annotations

import bisect
import json
import math
import random
import tracemalloc
from collections.abc import Iterator

import pytest
from hdrh.histogram import HdrHistogram
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kruntimes.sim.metrics import HIGHEST_US, Metrics, counts_index, new_histogram
from kruntimes.sim.results import SimResult

NAN = math.nan
Run = tuple[str, float, float, float, float, str, bool, int]


def synthetic_runs(seed: int, n: int, runtimes: tuple[str, ...] = ("py", "js")) -> list[Run]:
    """Deterministic Runs with latencies from microseconds to minutes; some never bind."""
    rng = random.Random(seed)
    runs: list[Run] = []
    t = 0.0
    for i in range(n):
        t += rng.expovariate(50.0)
        runtime = runtimes[i % len(runtimes)]
        if rng.random() < 0.05:  # refused at admission: never bound
            runs.append((runtime, t, NAN, NAN, t + rng.uniform(0, 1e-3), "Failed", False, 0))
            continue
        queue = 0.0 if rng.random() < 0.3 else rng.lognormvariate(-3, 2.5)
        dispatch = rng.uniform(1e-4, 5e-3)
        duration = rng.expovariate(2.0)
        outcome = rng.choice(["Succeeded"] * 8 + ["Failed", "Timeout"])
        bound = t + queue
        started = bound + dispatch
        runs.append(
            (
                runtime,
                t,
                bound,
                started,
                started + duration,
                outcome,
                queue == 0.0,
                rng.randint(1, 3),
            )
        )
    return runs


def feed(metrics: Metrics, runs: list[Run]) -> None:
    for run in runs:
        metrics.run_done(*run)


def result_of(metrics: Metrics, end: float, **kw: object) -> SimResult:
    args: dict[str, object] = {
        "horizon": end,
        "end": end,
        "scenario": "test",
        "system": "kruntimes",
        "pod_seconds": 0.0,
    }
    args.update(kw)
    return metrics.result(**args)  # type: ignore[arg-type]


def exact_percentile(values: list[float], p: float) -> float:
    """HdrHistogram's definition: the value at rank round(p/100 * n), at least rank 1."""
    ordered = sorted(values)
    rank = max(int(p * len(ordered) / 100 + 0.5), 1)
    return ordered[rank - 1]


def assert_close_to_hdr(got: float, exact: float) -> None:
    """Within a histogram bucket: 3 significant digits (2**-10 relative) plus 1 µs of truncation."""
    assert exact - 1e-6 <= got <= exact * (1 + 2**-10) + 1e-6, (got, exact)


# ---------------------------------------------------------------------- the histogram layout


@pytest.mark.parametrize(
    "us",
    [0, 1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 123_456, 10**9, 10**12, HIGHEST_US],
)
def test_counts_index_is_hdrhistograms_layout(us: int) -> None:
    assert counts_index(us) == new_histogram()._counts_index_for(us)


def test_recorded_counts_equal_record_value() -> None:
    runs = synthetic_runs(7, 2000, runtimes=("py",))
    metrics = Metrics(bucket_seconds=1.0)
    feed(metrics, runs)
    result = result_of(metrics, end=max(r[4] for r in runs))
    reference = new_histogram()
    for _, arrived, _, _, finished, *_ in runs:
        reference.record_value(int((finished - arrived) * 1e6))
    decoded = HdrHistogram.decode(result.latency.end_to_end.hdr)
    assert decoded.get_total_count() == reference.get_total_count() == len(runs)
    assert list(decoded.counts) == list(reference.counts)


# ---------------------------------------------------------------------- latency summaries


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_match_sorting(seed: int) -> None:
    runs = synthetic_runs(seed, 5000)
    metrics = Metrics(bucket_seconds=1.0)
    feed(metrics, runs)
    result = result_of(metrics, end=max(r[4] for r in runs))

    def check(summary: object, values: list[float]) -> None:
        assert summary.count == len(values)  # type: ignore[attr-defined]
        assert summary.mean == pytest.approx(sum(values) / len(values), rel=1e-9)  # type: ignore[attr-defined]
        for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9), ("max", 100)):
            assert_close_to_hdr(getattr(summary, name), exact_percentile(values, p))

    bound_runs = [r for r in runs if not math.isnan(r[2])]
    check(result.latency.end_to_end, [r[4] - r[1] for r in runs])
    check(result.latency.queueing, [r[2] - r[1] for r in bound_runs])
    check(result.latency.dispatch, [r[3] - r[2] for r in bound_runs])
    for runtime in ("py", "js"):
        mine = [r for r in runs if r[0] == runtime]
        stats = result.runtimes[runtime]
        check(stats.latency.end_to_end, [r[4] - r[1] for r in mine])
        check(stats.latency.queueing, [r[2] - r[1] for r in mine if not math.isnan(r[2])])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.floats(min_value=0.0, max_value=86_400.0, allow_nan=False),
        min_size=1,
        max_size=300,
    )
)
def test_percentiles_property(latencies: list[float]) -> None:
    metrics = Metrics(bucket_seconds=10.0)
    for i, latency in enumerate(latencies):
        metrics.run_done("py", float(i), float(i), float(i), i + latency, "Succeeded", True, 1)
    summary = result_of(metrics, end=len(latencies) + 86_400.0).latency.end_to_end
    for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9)):
        assert_close_to_hdr(getattr(summary, name), exact_percentile(latencies, p))
    assert summary.cdf[-1][1] == 1.0
    fractions = [f for _, f in summary.cdf]
    values = [v for v, _ in summary.cdf]
    assert fractions == sorted(fractions)
    assert values == sorted(values)
    assert len(summary.cdf) <= 220


def test_cdf_is_downsampled_and_consistent_with_percentiles() -> None:
    runs = synthetic_runs(11, 20_000)
    metrics = Metrics(bucket_seconds=1.0)
    feed(metrics, runs)
    summary = result_of(metrics, end=max(r[4] for r in runs)).latency.end_to_end
    assert 100 <= len(summary.cdf) <= 220
    e2e = sorted(r[4] - r[1] for r in runs)
    for value, fraction in summary.cdf:
        # the fraction of Runs at or below `value`, up to the histogram's resolution
        at_most = bisect.bisect_right(e2e, value * (1 + 2**-10) + 1e-6)
        surely_below = bisect.bisect_left(e2e, value * (1 - 2**-10) - 1e-6)
        assert surely_below / len(e2e) <= fraction <= at_most / len(e2e)


def test_values_beyond_the_range_are_clamped_not_lost() -> None:
    metrics = Metrics(bucket_seconds=86_400.0)
    metrics.run_done("py", 0.0, 0.0, 0.0, 100 * 86_400.0, "Succeeded", True, 1)
    metrics.run_done("py", 0.0, 0.0, 0.0, 1.0, "Succeeded", True, 1)
    summary = result_of(metrics, end=100 * 86_400.0).latency.end_to_end
    assert summary.count == 2
    assert summary.max == pytest.approx(HIGHEST_US / 1e6, rel=2**-10)
    assert summary.mean == pytest.approx((100 * 86_400.0 + 1.0) / 2)  # the mean stays exact


@pytest.mark.parametrize(
    ("arrived", "bound", "started", "finished"),
    [(5.0, 4.0, 6.0, 7.0), (1.0, 2.0, 3.0, 0.5), (-1.0, 0.0, 0.0, 1.0), (1.0, NAN, NAN, 0.5)],
)
def test_times_out_of_order_are_refused(
    arrived: float, bound: float, started: float, finished: float
) -> None:
    with pytest.raises(ValueError, match="out of order"):
        Metrics(bucket_seconds=1.0).run_done(
            "py", arrived, bound, started, finished, "Succeeded", False, 1
        )


# ---------------------------------------------------------------------- counts


def test_conservation_outcomes_and_unfinished() -> None:
    runs = synthetic_runs(5, 3000)
    metrics = Metrics(bucket_seconds=1.0)
    feed(metrics, runs)
    metrics.run_unfinished("py", 70.0, NAN, NAN, "waiting")
    metrics.run_unfinished("py", 70.5, 71.0, 71.2, "running")
    metrics.run_unfinished("js", 71.0, NAN, NAN, "waiting")
    metrics.arrived(len(runs) + 3)
    result = result_of(metrics, end=100.0)

    expected: dict[str, int] = {}
    for r in runs:
        expected[r[5]] = expected.get(r[5], 0) + 1
    assert dict(result.outcomes) == dict(sorted(expected.items()))
    assert result.succeeded == expected["Succeeded"]
    assert result.failed == len(runs) - expected["Succeeded"]
    assert result.ended == len(runs)
    assert dict(result.unfinished) == {"running": 1, "waiting": 2}
    assert result.arrived == len(runs) + 3
    assert result.conserved
    assert result.runtimes["py"].unfinished == {"running": 1, "waiting": 1}
    assert sum(s.arrived for s in result.runtimes.values()) == result.arrived
    # unfinished Runs are in no latency histogram
    assert result.latency.end_to_end.count == len(runs)
    assert result.attempts == sum(r[7] for r in runs)


def test_conservation_flags_a_lost_run() -> None:
    metrics = Metrics(bucket_seconds=1.0)
    metrics.arrived(2)
    metrics.run_done("py", 0.0, 0.5, 0.6, 1.0, "Succeeded", False, 1)
    result = result_of(metrics, end=1.0)
    assert result.arrived == 2
    assert not result.conserved


def test_arrived_defaults_to_ended_plus_unfinished() -> None:
    metrics = Metrics(bucket_seconds=1.0)
    metrics.run_done("py", 0.0, 0.5, 0.6, 1.0, "Succeeded", False, 1)
    metrics.run_unfinished("py", 0.5, NAN, NAN, "waiting")
    result = result_of(metrics, end=1.0)
    assert result.arrived == 2
    assert result.conserved


def test_warm_hit_rate_overall_and_per_runtime() -> None:
    runs = synthetic_runs(9, 4000)
    metrics = Metrics(bucket_seconds=1.0)
    feed(metrics, runs)
    result = result_of(metrics, end=max(r[4] for r in runs))
    bound = [r for r in runs if not math.isnan(r[2])]
    assert result.binds == len(bound) < len(runs)
    assert result.warm_binds == sum(1 for r in bound if r[6])
    assert result.warm_hit_rate == pytest.approx(result.warm_binds / len(bound))
    for runtime in ("py", "js"):
        mine = [r for r in bound if r[0] == runtime]
        stats = result.runtimes[runtime]
        assert stats.binds == len(mine)
        assert stats.warm_hit_rate == pytest.approx(sum(1 for r in mine if r[6]) / len(mine))


def test_labels_appear_even_without_runs() -> None:
    metrics = Metrics(bucket_seconds=1.0, labels=("idle", "py"))
    metrics.run_done("py", 0.0, 0.0, 0.1, 1.0, "Succeeded", True, 1)
    result = result_of(metrics, end=1.0)
    assert set(result.runtimes) == {"idle", "py"}
    assert result.runtimes["idle"].ended == 0
    assert result.runtimes["idle"].latency.end_to_end.count == 0


def test_bucket_seconds_must_be_positive() -> None:
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="bucket_seconds"):
            Metrics(bucket_seconds=bad)


# ---------------------------------------------------------------------- samples


def test_time_weighted_utilisation_and_pods() -> None:
    # (at, busy, slots, pods) for one runtime; irregular spacing, a gap with no slots
    samples = [(0.0, 0.0, 4.0, 2), (1.5, 3.0, 4.0, 2), (2.0, 0.0, 0.0, 0), (4.0, 6.0, 8.0, 4)]
    end = 7.0
    metrics = Metrics(bucket_seconds=1.0)
    for at, busy, slots, pods in samples:
        metrics.sample(
            at,
            in_system=int(busy),
            waiting={},
            busy={"py": busy},
            slots={"py": slots},
            pods={"py": pods},
        )
    result = result_of(metrics, end=end)
    stats = result.runtimes["py"]

    times = [s[0] for s in samples] + [end]
    weighted = covered = busy_area = slot_area = pod_area = 0.0
    for (at, busy, slots, pods), nxt in zip(samples, times[1:], strict=True):
        dt = nxt - at
        busy_area += busy * dt
        slot_area += slots * dt
        pod_area += pods * dt
        if slots:
            weighted += busy / slots * dt
            covered += dt
    assert stats.utilisation == pytest.approx(weighted / covered)
    assert stats.busy_slot_seconds == pytest.approx(busy_area)
    assert stats.slot_seconds == pytest.approx(slot_area)
    assert stats.mean_pods == pytest.approx(pod_area / end)
    assert stats.max_pods == 4
    assert result.utilisation == pytest.approx(weighted / covered)  # one runtime: the same

    series = result.series
    assert series.t == (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
    # the last sample in each bucket, carried forward
    assert series.utilisation["py"] == (0.0, 0.75, 0.0, 0.0, 0.75, 0.75, 0.75)
    assert series.pods["py"] == (2, 2, 0, 0, 4, 4, 4)


def test_overall_utilisation_pools_the_runtimes() -> None:
    metrics = Metrics(bucket_seconds=1.0)
    metrics.sample(
        0.0, in_system=0, waiting={}, busy={"a": 1.0, "b": 0.0}, slots={"a": 1.0, "b": 3.0}, pods={}
    )
    result = result_of(metrics, end=2.0)
    assert result.runtimes["a"].utilisation == 1.0
    assert result.runtimes["b"].utilisation == 0.0
    assert result.utilisation == pytest.approx(1.0 / 4.0)


def test_samples_must_not_go_back() -> None:
    metrics = Metrics(bucket_seconds=1.0)
    metrics.sample(2.0, in_system=0, waiting={}, busy={}, slots={}, pods={})
    with pytest.raises(ValueError, match="back in time"):
        metrics.sample(1.0, in_system=0, waiting={}, busy={}, slots={}, pods={})


def test_series_counts_arrivals_completions_and_waiting() -> None:
    runs = synthetic_runs(4, 2000)
    w = 0.5
    metrics = Metrics(bucket_seconds=w)
    feed(metrics, runs)
    metrics.run_unfinished("py", 1.25, NAN, NAN, "waiting")
    end = max(r[4] for r in runs)
    reasons = ["NoCapacity", "QuotaExceeded"]
    k = 0
    while k * w <= end:
        metrics.sample(
            k * w,
            in_system=k,
            waiting={reasons[k % 2]: k, "Backoff": 1},
            busy={},
            slots={},
            pods={},
        )
        k += 1
    series = result_of(metrics, end=end).series

    n = len(series)
    assert series.t == tuple(i * w for i in range(n))
    arrivals = [0] * n
    completions = [0] * n
    for r in runs:
        arrivals[int(r[1] / w)] += 1
        completions[int(r[4] / w)] += 1
    arrivals[int(1.25 / w)] += 1
    assert list(series.arrivals) == arrivals
    assert list(series.completions) == completions
    assert sum(series.arrivals) == len(runs) + 1
    assert series.in_system == tuple(range(n))
    assert series.waiting["Backoff"] == (1,) * n
    assert series.waiting["NoCapacity"] == tuple(i if i % 2 == 0 else 0 for i in range(n))
    assert series.waiting["QuotaExceeded"] == tuple(i if i % 2 else 0 for i in range(n))


# ---------------------------------------------------------------------- Little's law


def md1(seed: int, n: int, service: float, rate: float) -> list[tuple[float, float, float]]:
    """A FIFO single server with deterministic service: (arrived, started, finished)."""
    rng = random.Random(seed)
    t, free, out = 0.0, 0.0, []
    for _ in range(n):
        t += rng.expovariate(rate)
        start = max(t, free)
        free = start + service
        out.append((t, start, free))
    return out


def test_littles_law_exact_when_sampled_at_every_event() -> None:
    jobs = md1(seed=3, n=2000, service=0.8, rate=1.0)
    metrics = Metrics(bucket_seconds=10.0)
    events: list[tuple[float, int]] = []
    for arrived, started, finished in jobs:
        metrics.run_done(
            "py", arrived, started, started, finished, "Succeeded", arrived == started, 1
        )
        events += [(arrived, +1), (finished, -1)]
    events.sort()
    in_system = 0
    metrics.sample(0.0, in_system=0, waiting={}, busy={}, slots={}, pods={})
    for at, delta in events:
        in_system += delta
        metrics.sample(at, in_system=in_system, waiting={}, busy={}, slots={}, pods={})
    end = events[-1][0]
    law = result_of(metrics, end=end).littles_law

    total_time = sum(f - a for a, _, f in jobs)
    big_l, lam, w = law.L, law.lambda_, law.W
    assert big_l == pytest.approx(total_time / end, rel=1e-9)
    assert lam == pytest.approx(len(jobs) / end)
    assert w == pytest.approx(total_time / len(jobs))
    assert law.lambda_W == pytest.approx(law.lambda_ * law.W)
    assert law.relative_error < 1e-9


def test_littles_law_close_with_bucket_samples() -> None:
    jobs = md1(seed=8, n=3000, service=0.7, rate=1.0)
    end = jobs[-1][2]
    w = 0.01
    metrics = Metrics(bucket_seconds=w)
    for arrived, started, finished in jobs:
        metrics.run_done("py", arrived, started, started, finished, "Succeeded", False, 1)
    arrivals = [a for a, _, _ in jobs]
    finishes = sorted(f for _, _, f in jobs)
    ia = jf = 0
    k = 0
    while k * w <= end:  # engine-like: the state at each bucket boundary
        at = k * w
        while ia < len(arrivals) and arrivals[ia] <= at:
            ia += 1
        while jf < len(finishes) and finishes[jf] <= at:
            jf += 1
        metrics.sample(at, in_system=ia - jf, waiting={}, busy={}, slots={}, pods={})
        k += 1
    law = result_of(metrics, end=end).littles_law
    assert law.relative_error < 0.01
    big_l = law.L
    assert big_l == pytest.approx(sum(f - a for a, _, f in jobs) / end, rel=0.01)


def test_littles_law_empty() -> None:
    law = result_of(Metrics(bucket_seconds=1.0), end=0.0).littles_law
    assert (law.L, law.lambda_, law.W, law.relative_error) == (0.0, 0.0, 0.0, 0.0)


# ---------------------------------------------------------------------- JSON


def assert_round_trips(result: SimResult) -> None:
    text = json.dumps(result.to_json())
    back = SimResult.from_json(json.loads(text))
    assert back == result
    assert json.dumps(back.to_json()) == text


def test_json_round_trip_full_result() -> None:
    runs = synthetic_runs(2, 3000)
    metrics = Metrics(bucket_seconds=2.0)
    feed(metrics, runs)
    metrics.run_unfinished("js", 50.0, 50.5, 50.6, "running")
    for k in range(40):
        metrics.sample(
            k * 2.0,
            in_system=k,
            waiting={"NoCapacity": k},
            busy={"py": 1.0},
            slots={"py": 2.0},
            pods={"py": 1},
        )
    result = result_of(
        metrics, end=80.0, pod_seconds=123.5, extra={"decisions": {"bind": 3}, "note": "x"}
    )
    assert_round_trips(result)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["py", "js", "go"]),
            st.floats(0, 1000, allow_nan=False),
            st.floats(0, 10, allow_nan=False),
            st.floats(0, 1, allow_nan=False),
            st.floats(0, 100, allow_nan=False),
            st.sampled_from(["Succeeded", "Failed", "Timeout", "Cancelled"]),
            st.booleans(),
            st.booleans(),
        ),
        max_size=50,
    ),
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
)
def test_json_round_trip_property(
    runs: list[tuple[str, float, float, float, float, str, bool, bool]],
    extra: dict[str, object],
) -> None:
    metrics = Metrics(bucket_seconds=5.0)
    for runtime, arrived, queue, dispatch, duration, outcome, warm, binds in runs:
        if binds:
            bound = arrived + queue
            metrics.run_done(
                runtime, arrived, bound, bound + dispatch, bound + dispatch + duration,
                outcome, warm, 1,
            )  # fmt: skip
        else:
            metrics.run_done(runtime, arrived, NAN, NAN, arrived + duration, outcome, False, 0)
    assert_round_trips(result_of(metrics, end=1200.0, extra=extra))


# ---------------------------------------------------------------------- memory


def _stream(n: int, seed: int) -> Iterator[Run]:
    """Runs spread over the same 1000 s whatever `n`, generated lazily."""
    rng = random.Random(seed)
    for i in range(n):
        arrived = 1000.0 * i / n
        bound = arrived + rng.expovariate(10.0)
        started = bound + 0.002
        yield ("py" if i % 2 else "js", arrived, bound, started, started + rng.expovariate(1.0),
               "Succeeded", i % 3 == 0, 1)  # fmt: skip


def _peak(n: int) -> int:
    metrics = Metrics(bucket_seconds=2.0, labels=("py", "js"))
    done = metrics.run_done
    tracemalloc.start()
    tracemalloc.reset_peak()  # if something else traces already
    base = tracemalloc.get_traced_memory()[0]
    try:
        for run in _stream(n, seed=n):
            done(*run)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_with_the_number_of_runs() -> None:
    # the least of three: tracemalloc counts every allocation of the process (other tests'
    # threads too)
    small = min(_peak(5_000) for _ in range(3))
    large = min(_peak(50_000) for _ in range(3))
    # bounded, not flat to the byte: a histogram bucket's count becomes an int object of its
    # own once past 256, so up to buckets x 28 bytes (~350 KiB for 6 histograms) may appear
    assert large < small + 512 * 1024, (small, large)
    assert large < 1024 * 1024
