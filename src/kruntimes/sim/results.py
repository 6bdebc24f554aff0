"""What a simulation reports: `SimResult` and its parts, frozen and JSON-able.

Every time is in virtual seconds. Latency percentiles come from HdrHistograms
recorded in whole microseconds with 3 significant digits, so they are within
0.1% (plus 1 µs) of the exact order statistic; means are exact.

`SimResult.to_json()` gives plain JSON types (dicts, lists, str, int, float,
bool); `SimResult.from_json()` takes them back, so
``SimResult.from_json(json.loads(json.dumps(r.to_json()))) == r``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cattrs
from attrs import field, frozen
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

__all__ = [
    "Latencies",
    "LatencySummary",
    "LittlesLaw",
    "RuntimeStats",
    "SimResult",
    "TimeSeries",
]

SUCCEEDED = "Succeeded"


def _dict(value: Mapping[Any, Any]) -> dict[Any, Any]:
    return dict(value)


def _floats(value: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in value)


def _ints(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in value)


def _points(value: Any) -> tuple[tuple[float, float], ...]:
    return tuple((float(x), float(f)) for x, f in value)


@frozen
class LatencySummary:
    """One latency distribution, in seconds.

    `cdf` is a downsampled empirical CDF: (value, fraction of samples <= value)
    points in increasing order, about 100-200 of them, the last at fraction 1.
    `hdr` is the whole HdrHistogram (microseconds, base64 compressed V2 format,
    `hdrh.histogram.HdrHistogram.decode(hdr)`), "" when empty.
    """

    count: int = 0
    mean: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    p99: float = 0.0
    p999: float = 0.0
    max: float = 0.0
    cdf: tuple[tuple[float, float], ...] = field(default=(), converter=_points)
    hdr: str = ""

    def percentile(self, p: float) -> float:
        """The named percentile ("p50", "p90", "p99", "p999", "max", "mean") by number."""
        table = {50.0: self.p50, 90.0: self.p90, 99.0: self.p99, 99.9: self.p999, 100.0: self.max}
        try:
            return table[float(p)]
        except KeyError:
            raise ValueError(f"percentile {p} not kept; have {sorted(table)}") from None


@frozen
class Latencies:
    """queueing = bound - arrived; dispatch = started - bound; end_to_end = finished - arrived.

    Queueing and dispatch count only Runs that bound; end-to-end counts every
    ended Run (a Run refused at admission too). Unfinished Runs are in none.
    """

    queueing: LatencySummary = LatencySummary()
    dispatch: LatencySummary = LatencySummary()
    end_to_end: LatencySummary = LatencySummary()


class _Outcomes:
    """What `RuntimeStats` and `SimResult` derive from their counts alike."""

    outcomes: Mapping[str, int]
    binds: int
    warm_binds: int

    @property
    def ended(self) -> int:
        return sum(self.outcomes.values())

    @property
    def succeeded(self) -> int:
        return self.outcomes.get(SUCCEEDED, 0)

    @property
    def warm_hit_rate(self) -> float:
        return self.warm_binds / self.binds if self.binds else 0.0


@frozen
class RuntimeStats(_Outcomes):
    """What happened to the Runs of one runtime, and to its Pods."""

    arrived: int = 0
    outcomes: Mapping[str, int] = field(factory=dict, converter=_dict)
    unfinished: Mapping[str, int] = field(factory=dict, converter=_dict)
    binds: int = 0
    warm_binds: int = 0
    attempts: int = 0
    latency: Latencies = Latencies()
    utilisation: float = 0.0
    """Time-weighted mean of busy/slots over the samples where the runtime had slots."""
    busy_slot_seconds: float = 0.0
    slot_seconds: float = 0.0
    mean_pods: float = 0.0
    """Time-weighted mean of ready Pods over [0, end]."""
    max_pods: int = 0


@frozen
class TimeSeries:
    """One row per time bucket: bucket k spans [t[k], t[k] + bucket_seconds).

    `arrivals` / `completions` count Runs that arrived / ended in the bucket.
    The state columns (in_system, waiting, utilisation, pods) are the last
    sample taken in the bucket, carried forward through buckets with none.
    """

    bucket_seconds: float = 0.0
    t: tuple[float, ...] = field(default=(), converter=_floats)
    in_system: tuple[int, ...] = field(default=(), converter=_ints)
    waiting: Mapping[str, tuple[int, ...]] = field(factory=dict, converter=_dict)
    utilisation: Mapping[str, tuple[float, ...]] = field(factory=dict, converter=_dict)
    pods: Mapping[str, tuple[int, ...]] = field(factory=dict, converter=_dict)
    arrivals: tuple[int, ...] = field(default=(), converter=_ints)
    completions: tuple[int, ...] = field(default=(), converter=_ints)

    def __len__(self) -> int:
        return len(self.t)


@frozen
class LittlesLaw:
    """L = λW as a consistency check of the samples against the per-Run times.

    L: time-average of in_system over [0, end] (samples held until the next);
    lambda_: ended Runs per second over [0, end]; W: mean end-to-end time of
    the ended Runs; relative_error = |L - λW| / max(L, λW) (0 when both are 0).
    Runs still in the system at the end make L exceed λW.
    """

    L: float = 0.0
    lambda_: float = 0.0
    W: float = 0.0
    lambda_W: float = 0.0
    relative_error: float = 0.0


@frozen
class SimResult(_Outcomes):
    """Everything one simulation run reports."""

    scenario: str
    system: str
    """ "kruntimes" or "one-pod-per-run" (or a policy name)."""
    horizon: float = field(converter=float)
    end: float = field(converter=float)
    pod_seconds: float = field(converter=float)
    arrived: int = field(converter=int)
    outcomes: Mapping[str, int] = field(factory=dict, converter=_dict)
    """Ended Runs by Phase value ("Succeeded", "Failed", "Timeout", "Cancelled")."""
    unfinished: Mapping[str, int] = field(factory=dict, converter=_dict)
    """Runs still in the system at the end, by state ("waiting", "running")."""
    binds: int = 0
    warm_binds: int = 0
    attempts: int = 0
    latency: Latencies = Latencies()
    utilisation: float = 0.0
    """Time-weighted mean over the samples of (sum of busy slots / sum of slots)."""
    runtimes: Mapping[str, RuntimeStats] = field(factory=dict, converter=_dict)
    series: TimeSeries = TimeSeries()
    littles_law: LittlesLaw = LittlesLaw()
    extra: Mapping[str, object] = field(factory=dict, converter=_dict)

    # ------------------------------------------------------------------ derived

    @property
    def failed(self) -> int:
        """Ended Runs that did not succeed (Failed, Timeout, Cancelled, ...)."""
        return self.ended - self.succeeded

    @property
    def unfinished_total(self) -> int:
        return sum(self.unfinished.values())

    @property
    def conserved(self) -> bool:
        """arrived == ended + unfinished."""
        return self.arrived == self.ended + self.unfinished_total

    @property
    def throughput(self) -> float:
        """Ended Runs per second over [0, end]."""
        return self.ended / self.end if self.end > 0 else 0.0

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types; `from_json` takes them back."""
        out: dict[str, Any] = _CONVERTER.unstructure(self)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SimResult:
        return _CONVERTER.structure(dict(data), cls)


def _build_converter() -> cattrs.Converter:
    c = cattrs.Converter()
    # `extra` holds plain JSON values: take them back as they are.
    c.register_structure_hook_func(lambda t: t is object, lambda v, _: v)
    c.register_unstructure_hook(
        LittlesLaw, make_dict_unstructure_fn(LittlesLaw, c, lambda_=override(rename="lambda"))
    )
    c.register_structure_hook(
        LittlesLaw, make_dict_structure_fn(LittlesLaw, c, lambda_=override(rename="lambda"))
    )
    return c


_CONVERTER = _build_converter()
