"""Streaming metrics the simulation engine reports into.

Memory does not grow with the number of Runs: per runtime, three
HdrHistograms (queueing, dispatch, end-to-end; whole microseconds, 3
significant digits, 1 µs .. 30 days) and a few counters; arrivals and
completions go into fixed-width time buckets (so they grow with virtual time,
not with Runs); `sample` keeps one small row per call (the engine calls it at
bucket boundaries, a few thousand times at most).

`run_done` is the hot path (one call per Run): it indexes the histograms'
counts arrays directly, with HdrHistogram's own bucket layout, instead of
going through `record_value`; `result()` then sets the totals the histogram
keeps beside its counts. It costs about 1 µs a call on one core.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from typing import Any

from hdrh.histogram import HdrHistogram

from kruntimes.sim.results import (
    Latencies,
    LatencySummary,
    LittlesLaw,
    RuntimeStats,
    SimResult,
    TimeSeries,
)

__all__ = ["HIGHEST_US", "Metrics", "SIGNIFICANT_FIGURES", "new_histogram", "summarize"]

SIGNIFICANT_FIGURES = 3
LOWEST_US = 1
HIGHEST_US = 30 * 86_400 * 1_000_000  # 30 days in microseconds
PERCENTILES = (50.0, 90.0, 99.0, 99.9)
UNFINISHED_STATES = ("waiting", "running")

# HdrHistogram(1, HIGHEST_US, 3) lays its counts out in buckets of
# 2**_HALF_MAG sub-buckets: value v goes to index (b << _HALF_MAG) + (v >> b)
# with b = (v | _MASK).bit_length() - (_HALF_MAG + 1). `run_done` inlines that
# (the constants are checked against the library below and in the tests).
_TEMPLATE = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)
_HALF_MAG: int = _TEMPLATE.sub_bucket_half_count_magnitude
_MASK: int = _TEMPLATE.sub_bucket_mask
_COUNTS_LEN: int = _TEMPLATE.counts_len
if _TEMPLATE.unit_magnitude != 0 or (_HALF_MAG, _MASK) != (10, 2047):  # pragma: no cover
    raise ImportError("hdrhistogram's bucket layout changed; update kruntimes.sim.metrics")
del _TEMPLATE


def new_histogram() -> Any:
    """An empty latency histogram: microseconds, 1 µs .. 30 days, 3 significant digits."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


def counts_index(us: int) -> int:
    """Where `us` microseconds go in the counts array (HdrHistogram's layout)."""
    b = (us | 2047).bit_length() - 11
    return (b << 10) + (us >> b)


def _record_clamped(hist: Any, seconds: float) -> None:
    """Slow path: a value past the counts array (about 50 days, or inf) counts as 30 days."""
    if math.isnan(seconds):  # nothing to record
        return
    us = HIGHEST_US if seconds >= HIGHEST_US / 1e6 else max(0, int(seconds * 1e6))
    hist.counts[counts_index(us)] += 1


class _Runtime:
    """Per-runtime accumulators; `run_done` keeps a reference per runtime name."""

    __slots__ = (
        "arrived",
        "attempts",
        "binds",
        "d",
        "e",
        "hd",
        "he",
        "hq",
        "outcomes",
        "q",
        "sum_d",
        "sum_e",
        "sum_q",
        "unfinished",
        "warm",
    )

    def __init__(self) -> None:
        self.hq = new_histogram()
        self.hd = new_histogram()
        self.he = new_histogram()
        self.q = self.hq.counts
        self.d = self.hd.counts
        self.e = self.he.counts
        self.sum_q = 0.0
        self.sum_d = 0.0
        self.sum_e = 0.0
        self.binds = 0
        self.warm = 0
        self.attempts = 0
        self.arrived = 0
        self.outcomes: dict[str, int] = {}
        self.unfinished: dict[str, int] = {}


class Metrics:
    """Collects what a simulation reports and turns it into a `SimResult`.

    `labels` are the runtime names known up front: their accumulators are
    made now and they appear in the result even if no Run of theirs arrived.
    """

    def __init__(self, *, bucket_seconds: float, labels: Sequence[str] = ()) -> None:
        if not bucket_seconds > 0 or math.isinf(bucket_seconds):
            raise ValueError(f"bucket_seconds must be a positive number, got {bucket_seconds!r}")
        self.bucket_seconds = float(bucket_seconds)
        self._inv = 1.0 / self.bucket_seconds
        self._rt: dict[str, _Runtime] = {}
        self._arrivals: list[int] = [0] * 64
        self._completions: list[int] = [0] * 64
        self._arrived_counter: int | None = None
        # samples, one entry per `sample` call
        self._t: list[float] = []
        self._in_system: list[int] = []
        self._waiting: list[dict[str, int]] = []
        self._busy: list[dict[str, float]] = []
        self._slots: list[dict[str, float]] = []
        self._pods: list[dict[str, int]] = []
        for name in labels:
            self._runtime(name)

    # ------------------------------------------------------------------ engine calls

    def _runtime(self, name: str) -> _Runtime:
        acc = self._rt.get(name)
        if acc is None:
            acc = self._rt[name] = _Runtime()
        return acc

    def run_done(  # noqa: PLR0917 - the engine's call, positional for speed
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
        """One Run ended. `bound` and `started` are NaN if it never bound."""
        acc = self._rt.get(runtime)
        if acc is None:
            acc = self._runtime(runtime)
        e = finished - arrived
        if 0.0 <= arrived <= bound <= started <= finished:
            q = bound - arrived
            d = started - bound
            try:
                # end-to-end first: it is the largest, so if it fits the others do.
                v = int(e * 1e6)
                b = (v | 2047).bit_length() - 11
                acc.e[(b << 10) + (v >> b)] += 1
                v = int(q * 1e6)
                b = (v | 2047).bit_length() - 11
                acc.q[(b << 10) + (v >> b)] += 1
                v = int(d * 1e6)
                b = (v | 2047).bit_length() - 11
                acc.d[(b << 10) + (v >> b)] += 1
            except (IndexError, OverflowError):
                _record_clamped(acc.he, e)
                _record_clamped(acc.hq, q)
                _record_clamped(acc.hd, d)
            acc.sum_q += q
            acc.sum_d += d
            acc.binds += 1
            if warm:
                acc.warm += 1
        elif math.isnan(bound) and 0.0 <= arrived <= finished:  # never bound
            try:
                v = int(e * 1e6)
                b = (v | 2047).bit_length() - 11
                acc.e[(b << 10) + (v >> b)] += 1
            except (IndexError, OverflowError):
                _record_clamped(acc.he, e)
        else:
            raise ValueError(
                f"run_done({runtime!r}): times out of order: arrived={arrived} bound={bound} "
                f"started={started} finished={finished}"
            )
        acc.sum_e += e
        acc.arrived += 1
        acc.attempts += attempts
        oc = acc.outcomes
        oc[outcome] = oc.get(outcome, 0) + 1
        try:
            self._arrivals[int(arrived * self._inv)] += 1
            self._completions[int(finished * self._inv)] += 1
        except (IndexError, OverflowError):
            self._count_slow(arrived, finished)

    def _count_slow(self, arrived: float, finished: float | None) -> None:
        # The fast path may have counted the arrival before the completion failed; redo
        # nothing twice: work out which of the two went in.
        arrivals, completions = self._arrivals, self._completions
        ia = self._bucket(arrived)
        if finished is None:
            self._grow(arrivals, ia)
            arrivals[ia] += 1
            return
        ic = self._bucket(finished)
        if ia >= len(arrivals):  # the arrival raised: neither counted
            self._grow(arrivals, ia)
            arrivals[ia] += 1
        self._grow(completions, ic)
        completions[ic] += 1

    def _bucket(self, at: float) -> int:
        if not 0.0 <= at < math.inf:
            raise ValueError(f"times must be finite and >= 0, got {at}")
        return int(at * self._inv)

    @staticmethod
    def _grow(counts: list[int], index: int) -> None:
        if index >= len(counts):
            counts.extend([0] * max(index + 1 - len(counts), len(counts)))

    def run_unfinished(
        self, runtime: str, arrived: float, bound: float, started: float, state: str
    ) -> None:
        """A Run still in the system when the simulation ended ("waiting" or "running")."""
        acc = self._runtime(runtime)
        acc.arrived += 1
        acc.unfinished[state] = acc.unfinished.get(state, 0) + 1
        self._count_slow(arrived, None)

    def arrived(self, count: int) -> None:
        """Bulk count of arrivals, checked against ended + unfinished (`SimResult.conserved`)."""
        self._arrived_counter = (self._arrived_counter or 0) + count

    def sample(
        self,
        at: float,
        *,
        in_system: int,
        waiting: Mapping[str, int],
        busy: Mapping[str, float],
        slots: Mapping[str, float],
        pods: Mapping[str, int],
    ) -> None:
        """The system's state at virtual time `at` (non-decreasing from call to call)."""
        if self._t and at < self._t[-1]:
            raise ValueError(f"samples must not go back in time: {at} < {self._t[-1]}")
        self._t.append(float(at))
        self._in_system.append(int(in_system))
        self._waiting.append(dict(waiting))
        self._busy.append(dict(busy))
        self._slots.append(dict(slots))
        self._pods.append(dict(pods))

    # ------------------------------------------------------------------ the result

    def result(
        self,
        *,
        horizon: float,
        end: float,
        scenario: str,
        system: str,
        pod_seconds: float,
        extra: Mapping[str, object] = {},  # never mutated
    ) -> SimResult:
        """Summarise everything reported so far (can be called more than once)."""
        names = sorted(
            set(self._rt)
            | {k for row in self._slots for k in row}
            | {k for row in self._pods for k in row}
        )
        accs = {name: self._rt.get(name) or _Runtime() for name in names}
        # How long each sample's state held: until the next sample, the last until `end`.
        t = self._t
        dts = [b - a for a, b in zip(t, [*t[1:], max(end, t[-1])], strict=True)] if t else []

        per_runtime: dict[str, RuntimeStats] = {}
        for name, acc in accs.items():
            util, busy_s, slot_s = _utilisation(
                [row.get(name, 0.0) for row in self._busy],
                [row.get(name, 0.0) for row in self._slots],
                dts,
            )
            pods = [row.get(name, 0) for row in self._pods]
            per_runtime[name] = RuntimeStats(
                arrived=acc.arrived,
                outcomes=dict(sorted(acc.outcomes.items())),
                unfinished=dict(sorted(acc.unfinished.items())),
                binds=acc.binds,
                warm_binds=acc.warm,
                attempts=acc.attempts,
                latency=Latencies(
                    queueing=summarize(acc.hq, acc.sum_q),
                    dispatch=summarize(acc.hd, acc.sum_d),
                    end_to_end=summarize(acc.he, acc.sum_e),
                ),
                utilisation=util,
                busy_slot_seconds=busy_s,
                slot_seconds=slot_s,
                mean_pods=(sum(p * dt for p, dt in zip(pods, dts, strict=True)) / end)
                if end > 0
                else 0.0,
                max_pods=max(pods, default=0),
            )

        rts = list(accs.values())
        outcomes: dict[str, int] = {}
        unfinished: dict[str, int] = {}
        for acc in rts:
            for k, n in acc.outcomes.items():
                outcomes[k] = outcomes.get(k, 0) + n
            for k, n in acc.unfinished.items():
                unfinished[k] = unfinished.get(k, 0) + n
        ended = sum(outcomes.values())
        arrived = (
            self._arrived_counter
            if self._arrived_counter is not None
            else ended + sum(unfinished.values())
        )
        latency = Latencies(
            queueing=summarize(_merge(a.hq for a in rts), sum(a.sum_q for a in rts)),
            dispatch=summarize(_merge(a.hd for a in rts), sum(a.sum_d for a in rts)),
            end_to_end=summarize(_merge(a.he for a in rts), sum(a.sum_e for a in rts)),
        )
        overall_util, _, _ = _utilisation(
            [sum(row.values()) for row in self._busy],
            [sum(row.values()) for row in self._slots],
            dts,
        )

        # Little's law: L from the samples, λ and W from the Runs.
        area = sum(n * dt for n, dt in zip(self._in_system, dts, strict=True))
        big_l = area / end if end > 0 else 0.0
        lam = ended / end if end > 0 else 0.0
        w = latency.end_to_end.mean
        lw = lam * w
        denom = max(big_l, lw)
        littles = LittlesLaw(
            L=big_l,
            lambda_=lam,
            W=w,
            lambda_W=lw,
            relative_error=abs(big_l - lw) / denom if denom > 0 else 0.0,
        )

        return SimResult(
            scenario=scenario,
            system=system,
            horizon=horizon,
            end=end,
            pod_seconds=pod_seconds,
            arrived=arrived,
            outcomes=dict(sorted(outcomes.items())),
            unfinished=dict(sorted(unfinished.items())),
            binds=sum(a.binds for a in rts),
            warm_binds=sum(a.warm for a in rts),
            attempts=sum(a.attempts for a in rts),
            latency=latency,
            utilisation=overall_util,
            runtimes=per_runtime,
            series=self._series(names, end),
            littles_law=littles,
            extra=dict(extra),
        )

    def _series(self, names: Sequence[str], end: float) -> TimeSeries:
        w = self.bucket_seconds
        # bucket of each sample; a sample at k*w (up to rounding) opens bucket k
        sample_bucket = [int(at * self._inv + 1e-9) for at in self._t]
        used = max(
            _last_nonzero(self._arrivals) + 1,
            _last_nonzero(self._completions) + 1,
            sample_bucket[-1] + 1 if sample_bucket else 0,
        )
        n = max(used, math.ceil(end * self._inv - 1e-9) if end > 0 else 0)
        reasons = sorted({k for row in self._waiting for k in row})
        in_system = [0] * n
        waiting = {r: [0] * n for r in reasons}
        util = {name: [0.0] * n for name in names}
        pods = {name: [0] * n for name in names}
        j = -1  # last sample at or before the current bucket
        for k in range(n):
            while j + 1 < len(sample_bucket) and sample_bucket[j + 1] <= k:
                j += 1
            if j < 0:
                continue
            in_system[k] = self._in_system[j]
            for r, n_waiting in self._waiting[j].items():
                waiting[r][k] = n_waiting
            busy, slots, ready = self._busy[j], self._slots[j], self._pods[j]
            for name in names:
                s = slots.get(name, 0.0)
                util[name][k] = busy.get(name, 0.0) / s if s > 0 else 0.0
                pods[name][k] = ready.get(name, 0)
        return TimeSeries(
            bucket_seconds=w,
            t=[k * w for k in range(n)],
            in_system=in_system,
            waiting={r: tuple(v) for r, v in waiting.items()},
            utilisation={name: tuple(v) for name, v in util.items()},
            pods={name: tuple(v) for name, v in pods.items()},
            arrivals=(self._arrivals + [0] * n)[:n],
            completions=(self._completions + [0] * n)[:n],
        )


# ---------------------------------------------------------------------- helpers


def _last_nonzero(counts: Sequence[int]) -> int:
    for i in range(len(counts) - 1, -1, -1):
        if counts[i]:
            return i
    return -1


def _nonzero(hist: Any) -> list[tuple[int, int]]:
    return [(i, n) for i, n in enumerate(hist.counts) if n]


def _settle(hist: Any) -> list[tuple[int, int]]:
    """Set the totals `run_done` skipped (count, min, max) from the counts array."""
    nz = _nonzero(hist)
    if nz:
        hist.set_internal_tacking_values(nz[0][0], nz[-1][0], sum(n for _, n in nz))
    else:
        hist.reset()
    return nz


def _merge(hists: Any) -> Any:
    out = new_histogram()
    counts = out.counts
    for h in hists:
        for i, n in _nonzero(h):
            counts[i] += n
    _settle(out)
    return out


def _utilisation(
    busy: Sequence[float], slots: Sequence[float], dts: Sequence[float]
) -> tuple[float, float, float]:
    """(time-weighted mean of busy/slots where slots > 0, busy slot-seconds, slot-seconds)."""
    ratio_area = covered = busy_area = slot_area = 0.0
    for b, s, dt in zip(busy, slots, dts, strict=True):
        busy_area += b * dt
        slot_area += s * dt
        if s > 0:
            ratio_area += (b / s) * dt
            covered += dt
    return (ratio_area / covered if covered > 0 else 0.0), busy_area, slot_area


def _cdf(hist: Any, nz: Sequence[tuple[int, int]]) -> tuple[tuple[float, float], ...]:
    """About 100-200 (seconds, cumulative fraction) points of the histogram's CDF.

    Points at every percent, more in the tail (p99.5 .. p99.9999), and at
    log-spaced values, so both a linear and a log x axis look right.
    """
    if not nz:
        return ()
    total = sum(n for _, n in nz)
    cum: list[int] = []
    running = 0
    for _, n in nz:
        running += n
        cum.append(running)
    m = len(nz)
    if m <= 200:
        chosen = set(range(m))
    else:
        chosen = {0, m - 1}
        tails = [1 - 10 ** (-x / 2) for x in range(5, 13)]  # 0.99684 .. 0.999999
        for f in [k / 100 for k in range(1, 100)] + tails:
            chosen.add(min(bisect.bisect_left(cum, f * total), m - 1))
        values = [hist.get_highest_equivalent_value(hist.get_value_from_index(i)) for i, _ in nz]
        lo, hi = max(values[0], 1), max(values[-1], 1)
        steps = 80
        for s in range(steps + 1):
            target = lo * (hi / lo) ** (s / steps)
            chosen.add(max(bisect.bisect_right(values, target) - 1, 0))
    points = []
    for j in sorted(chosen):
        value = hist.get_highest_equivalent_value(hist.get_value_from_index(nz[j][0]))
        points.append((value / 1e6, cum[j] / total))
    return tuple(points)


def summarize(hist: Any, total_seconds: float) -> LatencySummary:
    """A `LatencySummary` of a settled histogram; `total_seconds` is the exact sum of values."""
    nz = _settle(hist)
    count = hist.get_total_count()
    if not count:
        return LatencySummary()
    pct = hist.get_percentile_to_value_dict(list(PERCENTILES))
    return LatencySummary(
        count=count,
        mean=total_seconds / count,
        p50=pct[50.0] / 1e6,
        p90=pct[90.0] / 1e6,
        p99=pct[99.0] / 1e6,
        p999=pct[99.9] / 1e6,
        max=hist.get_max_value() / 1e6,
        cdf=_cdf(hist, nz),
        hdr=hist.encode().decode("ascii"),
    )
