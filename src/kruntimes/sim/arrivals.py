"""Synthetic workloads: arrival processes, the Runs they submit, and their scenario syntax.

A `Workload` pairs an arrival process (when Runs come: `Poisson`, `OnOff`, `Diurnal`,
`Burst`, `Periodic`) with a duration distribution and the fixed fields of its Runs
(runtime, requests, queue, priority). `Workload.stream(rng, until=...)` yields `Arrival`s
in nondecreasing time, lazily: memory does not grow with the number generated.
`merge` interleaves several streams by time.

Determinism: a stream depends only on its workload and the `random.Random` it is given.
`workload_rng(seed, index)` derives the generator of the `index`-th workload of a
scenario from the scenario seed (`random.Random(f"{seed}:{index}")`; Python hashes a str
seed with SHA-512, so it does not depend on PYTHONHASHSEED), so adding or changing one
workload leaves the others' streams as they were. Inside a stream the arrival times and
the durations come from two generators split off the given one, so changing a workload's
duration distribution does not move its arrival times (common random numbers).
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from operator import attrgetter
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from attrs import field, frozen

from kruntimes.codec.quantities import parse_quantity
from kruntimes.sim.distributions import (
    Distribution,
    bind,
    check_keys,
    expect_mapping,
    expect_name,
    parse_distribution,
    parse_seconds,
    single_key,
)

__all__ = [
    "Arrival",
    "ArrivalProcess",
    "Burst",
    "Diurnal",
    "OnOff",
    "Periodic",
    "Poisson",
    "Source",
    "Workload",
    "merge",
    "parse_process",
    "parse_rate",
    "parse_requests",
    "parse_workload",
    "scenario_arrivals",
    "workload_rng",
]


@frozen
class Arrival:
    """One Run entering the system at virtual time `at`."""

    at: float
    """Virtual seconds from the start; nondecreasing along a stream."""
    duration: float
    """Seconds of execution once the Run has started."""
    runtime: str
    requests: Mapping[str, int] | None = None
    """None means {"runs": 1}. Shared between the arrivals of a workload: do not mutate."""
    queue: str | None = None
    priority: int = 0
    function: str = ""
    """The function id in trace replay; "" for synthetic workloads (unless set)."""


@runtime_checkable
class ArrivalProcess(Protocol):
    """When Runs arrive: a point process on [0, until)."""

    def times(self, rng: random.Random, until: float) -> Iterator[float]:
        """Arrival times in nondecreasing order, all >= 0 and < `until` (which may be inf)."""
        ...

    def expected_count(self, until: float) -> float:
        """The expected number of arrivals in [0, until)."""
        ...


@runtime_checkable
class Source(Protocol):
    """Anything that streams arrivals: a `Workload` or a trace replay."""

    def stream(self, rng: random.Random, *, until: float) -> Iterator[Arrival]: ...


def _finite_nonneg(value: float, name: str) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def _finite_positive(value: float, name: str) -> None:
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


@frozen
class Poisson:
    """Independent arrivals at a constant `rate` per second (exponential gaps)."""

    rate: float

    def __attrs_post_init__(self) -> None:
        _finite_nonneg(self.rate, "rate")

    def times(self, rng: random.Random, until: float) -> Iterator[float]:
        rate = self.rate
        if rate <= 0.0:
            return
        expo, t = rng.expovariate, 0.0
        while True:
            t += expo(rate)
            if t >= until:
                return
            yield t

    def expected_count(self, until: float) -> float:
        return self.rate * until


@frozen
class OnOff:
    """Bursty: a Poisson process whose rate switches between `rate_on` and `rate_off`.

    The process stays on for an exponentially distributed time of mean `mean_on`
    seconds, then off for one of mean `mean_off`, and so on (a Markov-modulated
    Poisson process). It starts on with probability mean_on / (mean_on + mean_off), the
    long-run fraction of time on, so the arrival rate is stationary from t = 0:
    (rate_on * mean_on + rate_off * mean_off) / (mean_on + mean_off) on average.
    """

    rate_on: float
    rate_off: float
    mean_on: float
    mean_off: float

    def __attrs_post_init__(self) -> None:
        _finite_nonneg(self.rate_on, "rate_on")
        _finite_nonneg(self.rate_off, "rate_off")
        _finite_positive(self.mean_on, "mean_on")
        _finite_positive(self.mean_off, "mean_off")

    @property
    def mean_rate(self) -> float:
        return (self.rate_on * self.mean_on + self.rate_off * self.mean_off) / (
            self.mean_on + self.mean_off
        )

    def times(self, rng: random.Random, until: float) -> Iterator[float]:
        if self.rate_on <= 0.0 and self.rate_off <= 0.0:
            return
        expo = rng.expovariate
        rates = (self.rate_off, self.rate_on)
        leave = (1.0 / self.mean_off, 1.0 / self.mean_on)
        on = int(rng.random() * (self.mean_on + self.mean_off) < self.mean_on)
        t = 0.0
        switch = expo(leave[on])
        while t < until:
            rate = rates[on]
            if rate > 0.0:
                # Memorylessness: the next arrival after t in this state is t + Exp(rate).
                while True:
                    t += expo(rate)
                    if t >= switch:
                        break
                    if t >= until:
                        return
                    yield t
            t = switch
            on ^= 1
            switch = t + expo(leave[on])

    def expected_count(self, until: float) -> float:
        return self.mean_rate * until


@frozen
class Diurnal:
    """Poisson with a daily cycle: a rate that swings around `mean_rate` as a cosine.

    rate(t) = mean_rate * (1 + amplitude * cos(2π (t - peak_at) / period)).
    Generated by thinning (Lewis and Shedler, 1979): candidates at the peak rate
    mean_rate * (1 + amplitude), each kept with probability rate(t) / peak rate, so
    about 1 / (1 + amplitude) of them are kept. The rate peaks at `peak_at` (default 0:
    the simulation starts at the busiest time) and bottoms out half a period later at
    mean_rate * (1 - amplitude).
    """

    mean_rate: float
    amplitude: float
    period: float = 86400.0
    peak_at: float = 0.0

    def __attrs_post_init__(self) -> None:
        _finite_nonneg(self.mean_rate, "mean_rate")
        if not 0.0 <= self.amplitude <= 1.0:
            raise ValueError(f"amplitude must be within 0..1, got {self.amplitude!r}")
        _finite_positive(self.period, "period")
        if not math.isfinite(self.peak_at):
            raise ValueError(f"peak_at must be finite, got {self.peak_at!r}")

    def rate(self, t: float) -> float:
        """The instantaneous rate at time `t`, per second."""
        phase = 2.0 * math.pi * (t - self.peak_at) / self.period
        return self.mean_rate * (1.0 + self.amplitude * math.cos(phase))

    def times(self, rng: random.Random, until: float) -> Iterator[float]:
        if self.mean_rate <= 0.0:
            return
        top = 1.0 + self.amplitude
        peak_rate, a = self.mean_rate * top, self.amplitude
        w, t0 = 2.0 * math.pi / self.period, self.peak_at
        expo, rand, cos = rng.expovariate, rng.random, math.cos
        t = 0.0
        while True:
            t += expo(peak_rate)
            if t >= until:
                return
            if rand() * top < 1.0 + a * cos(w * (t - t0)):
                yield t

    def expected_count(self, until: float) -> float:
        if math.isinf(until):
            return math.inf if self.mean_rate > 0 else 0.0
        w = 2.0 * math.pi / self.period
        wave = (math.sin(w * (until - self.peak_at)) - math.sin(-w * self.peak_at)) / w
        return self.mean_rate * (until + self.amplitude * wave)


@frozen
class Burst:
    """`count` Runs at `at`, as a CI pipeline fans out: spread uniformly over [at, at + spread).

    With `every`, the burst repeats every `every` seconds (which must be at least
    `spread`, so that bursts do not overlap). The times of one burst are generated
    already sorted, one at a time (order statistics of uniforms), so a burst of a
    million Runs takes no memory.
    """

    at: float
    count: int
    spread: float = 0.0
    every: float | None = None

    def __attrs_post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise ValueError(f"count must be an integer >= 0, got {self.count!r}")
        _finite_nonneg(self.at, "at")
        _finite_nonneg(self.spread, "spread")
        if self.every is not None:
            _finite_positive(self.every, "every")
            if self.every < self.spread:
                raise ValueError(
                    f"every ({self.every:g} s) must be at least spread ({self.spread:g} s) "
                    f"so that bursts do not overlap"
                )

    def _starts(self) -> Iterator[float]:
        if self.every is None:
            return iter((self.at,))
        at, every = self.at, self.every
        return (at + k * every for k in itertools.count())

    def times(self, rng: random.Random, until: float) -> Iterator[float]:
        count, spread, rand = self.count, self.spread, rng.random
        if count == 0:
            return
        for start in self._starts():
            if start >= until:
                return
            x = 0.0
            for left in range(count, 0, -1):
                # The smallest of `left` uniforms on [x, 1).
                x += (1.0 - x) * (1.0 - rand() ** (1.0 / left))
                t = start + spread * x
                if t >= until:
                    return
                yield t

    def expected_count(self, until: float) -> float:
        total = 0.0
        for start in self._starts():
            if start >= until:
                break
            if self.spread == 0.0:
                total += self.count
            else:
                total += self.count * min(1.0, (until - start) / self.spread)
        return total


@frozen
class Periodic:
    """One Run every `interval` seconds from `start` (a cron job).

    Each is delayed by Uniform(0, jitter); `jitter` must not exceed `interval`, so the
    times stay in order.
    """

    interval: float
    jitter: float = 0.0
    start: float = 0.0

    def __attrs_post_init__(self) -> None:
        _finite_positive(self.interval, "interval")
        _finite_nonneg(self.jitter, "jitter")
        _finite_nonneg(self.start, "start")
        if self.jitter > self.interval:
            raise ValueError(
                f"jitter ({self.jitter:g} s) must not exceed interval ({self.interval:g} s)"
            )

    def times(self, rng: random.Random, until: float) -> Iterator[float]:
        start, interval, jitter, rand = self.start, self.interval, self.jitter, rng.random
        for k in itertools.count():
            t = start + k * interval
            if jitter:
                t += jitter * rand()
            if t >= until:
                return
            yield t

    def expected_count(self, until: float) -> float:
        """The number of periods started before `until` (exact without jitter)."""
        if until <= self.start:
            return 0.0
        return float(math.ceil((until - self.start) / self.interval))


def _frozen_requests(value: Mapping[str, int] | None) -> Mapping[str, int] | None:
    if value is None or isinstance(value, MappingProxyType):
        return value
    return MappingProxyType(dict(value))


def _runs_cap(instance: object, attribute: object, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"runs must be an integer >= 0 or None, got {value!r}")


@frozen
class Workload:
    """A synthetic stream of Runs: when (`process`), how long (`duration`) and of what kind."""

    runtime: str
    process: ArrivalProcess
    duration: Distribution
    requests: Mapping[str, int] | None = field(default=None, converter=_frozen_requests, hash=False)
    """What each Run requests; None means {"runs": 1}."""
    queue: str | None = None
    priority: int = 0
    runs: int | None = field(default=None, validator=_runs_cap)
    """At most this many Runs (None: as many as the process makes before `until`)."""
    function: str = ""

    def stream(self, rng: random.Random, *, until: float) -> Iterator[Arrival]:
        """The workload's arrivals with `at < until` (at most `runs`), in nondecreasing `at`.

        Lazy: nothing is drawn until iterated, and nothing is kept. `rng` is used only
        here, to seed the two generators of arrival times and durations.
        """
        times_rng = random.Random(rng.getrandbits(64))
        durations_rng = random.Random(rng.getrandbits(64))
        times: Iterator[float] = self.process.times(times_rng, until)
        if self.runs is not None:
            times = itertools.islice(times, self.runs)
        draw = bind(self.duration, durations_rng)
        rep = itertools.repeat
        # `map` over the constructor: no Python frame per arrival. It pulls a time first and
        # stops when the times end, so no duration is drawn past the last arrival.
        return map(
            Arrival,
            times,
            iter(draw, None),
            rep(self.runtime),
            rep(self.requests),
            rep(self.queue),
            rep(self.priority),
            rep(self.function),
        )

    def expected_count(self, until: float) -> float:
        """Expected number of arrivals before `until` (ignoring the `runs` cap)."""
        return self.process.expected_count(until)


def workload_rng(seed: int | str, index: int) -> random.Random:
    """The generator of a scenario's `index`-th workload: `random.Random(f"{seed}:{index}")`."""
    return random.Random(f"{seed}:{index}")


_AT = attrgetter("at")


def merge(streams: Iterable[Iterator[Arrival]]) -> Iterator[Arrival]:
    """One stream of all arrivals by `at`; ties keep the order of `streams` (stable)."""
    streams = list(streams)
    if len(streams) == 1:
        return iter(streams[0])
    return heapq.merge(*streams, key=_AT)


def scenario_arrivals(
    sources: Iterable[Source], *, seed: int | str, until: float
) -> Iterator[Arrival]:
    """All arrivals of a scenario's workloads (or traces) merged, each with its `workload_rng`."""
    return merge(
        source.stream(workload_rng(seed, index), until=until)
        for index, source in enumerate(sources)
    )


# -- scenario syntax ------------------------------------------------------------------------

_RATE_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}
_RATE = re.compile(r"\s*([^/\s]+)\s*(?:/\s*(\S+))?\s*")


def _per(unit: str, *, value: str, what: str) -> float:
    """Seconds in the unit of a rate: s, min, h, d (and longer spellings) or a duration."""
    low = unit.lower()
    per = _RATE_UNITS.get(low)
    if per is None and len(low) >= 3 and low.endswith("s"):
        per = _RATE_UNITS.get(low[:-1])  # mins, secs, hrs, hours, days
    if per is None:
        text = unit if unit[0].isdigit() or unit[0] == "." else "1" + unit  # ms -> 1ms
        try:
            per = parse_seconds(text, what=what)
        except ValueError:
            raise ValueError(
                f"{what}: invalid rate {value!r}: unknown unit {unit!r}; use s, min, h, d "
                f"or a duration like 10s"
            ) from None
        if per <= 0:
            raise ValueError(f"{what}: invalid rate {value!r}: the period must be > 0")
    return per


def parse_rate(value: object, *, what: str) -> float:
    """Events per second from a number (per second) or "200/s", "12000/min", "1e6/h", "5/10s"."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{what}: expected a rate like 200 (per second), 200/s or 12000/min")
    if isinstance(value, str):
        m = _RATE.fullmatch(value)
        try:
            if m is None:
                raise ValueError
            number = float(m.group(1))
        except ValueError:
            raise ValueError(
                f"{what}: invalid rate {value!r}: use a number per second, or like "
                f"200/s, 12000/min, 1e6/h or 5/10s"
            ) from None
        unit = m.group(2)
        per = 1.0 if unit is None else _per(unit, value=value, what=what)
        rate = number / per
    else:
        rate = float(value)
    if not math.isfinite(rate) or rate < 0:
        raise ValueError(f"{what}: rate must be a finite number >= 0, got {value!r}")
    return rate


def _count(value: object, *, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValueError(f"{what}: expected a whole number, got {value!r}")
    if value < 0:
        raise ValueError(f"{what}: must not be negative, got {value}")
    return value


def _amplitude(value: object, *, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what}: expected a number within 0..1, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{what}: must be within 0..1, got {value!r}")
    return float(value)


def _parse_poisson(params: Mapping[Any, object], what: str) -> ArrivalProcess:
    check_keys(params, what=what, known=("rate",), required=("rate",))
    return Poisson(parse_rate(params["rate"], what=f"{what}.rate"))


def _parse_onoff(params: Mapping[Any, object], what: str) -> ArrivalProcess:
    known = ("rateOn", "rateOff", "meanOn", "meanOff")
    check_keys(params, what=what, known=known, required=("rateOn", "meanOn", "meanOff"))
    rate_on = parse_rate(params["rateOn"], what=f"{what}.rateOn")
    rate_off = parse_rate(params.get("rateOff", 0), what=f"{what}.rateOff")
    mean_on = parse_seconds(params["meanOn"], what=f"{what}.meanOn")
    mean_off = parse_seconds(params["meanOff"], what=f"{what}.meanOff")
    return OnOff(rate_on, rate_off, mean_on, mean_off)


def _parse_diurnal(params: Mapping[Any, object], what: str) -> ArrivalProcess:
    known = ("meanRate", "amplitude", "period", "peakAt")
    check_keys(params, what=what, known=known, required=("meanRate", "amplitude"))
    return Diurnal(
        parse_rate(params["meanRate"], what=f"{what}.meanRate"),
        _amplitude(params["amplitude"], what=f"{what}.amplitude"),
        parse_seconds(params.get("period", 86400.0), what=f"{what}.period"),
        parse_seconds(params.get("peakAt", 0.0), what=f"{what}.peakAt"),
    )


def _parse_burst(params: Mapping[Any, object], what: str) -> ArrivalProcess:
    check_keys(params, what=what, known=("count", "at", "spread", "every"), required=("count",))
    every = params.get("every")
    return Burst(
        parse_seconds(params.get("at", 0.0), what=f"{what}.at"),
        _count(params["count"], what=f"{what}.count"),
        parse_seconds(params.get("spread", 0.0), what=f"{what}.spread"),
        None if every is None else parse_seconds(every, what=f"{what}.every"),
    )


def _parse_periodic(params: Mapping[Any, object], what: str) -> ArrivalProcess:
    check_keys(params, what=what, known=("interval", "jitter", "start"), required=("interval",))
    return Periodic(
        parse_seconds(params["interval"], what=f"{what}.interval"),
        parse_seconds(params.get("jitter", 0.0), what=f"{what}.jitter"),
        parse_seconds(params.get("start", 0.0), what=f"{what}.start"),
    )


_PROCESSES: dict[str, tuple[Callable[[Mapping[Any, object], str], ArrivalProcess], str]] = {
    "burst": (_parse_burst, "{count: 500, at: 60s, spread: 5s}"),
    "diurnal": (_parse_diurnal, "{mean_rate: 100/s, amplitude: 0.5}"),
    "onoff": (_parse_onoff, "{rate_on: 500/s, mean_on: 10s, mean_off: 50s}"),
    "periodic": (_parse_periodic, "{interval: 1m, jitter: 5s}"),
    "poisson": (_parse_poisson, "{rate: 200/s}"),
}


def _prefixed(what: str, err: ValueError) -> ValueError:
    message = str(err)
    return err if message.startswith(what) else ValueError(f"{what}: {message}")


def parse_process(spec: object, *, what: str) -> ArrivalProcess:
    """An arrival process from `{poisson: {rate: 200/s}}` and the like."""
    spec = expect_mapping(spec, what=what, example="{poisson: {rate: 200/s}}")
    kind = single_key(spec, what=what, kinds=tuple(_PROCESSES), noun="arrival process")
    here = f"{what}.{kind}"
    parse, example = _PROCESSES[kind]
    params = expect_mapping(spec[kind], what=here, example=example)
    try:
        return parse(params, here)
    except ValueError as err:
        raise _prefixed(here, err) from None


def parse_requests(spec: object, *, what: str) -> Mapping[str, int]:
    """Run requests from `{runs: 1, gpu: 2}`; values are integer quantities ("1k", "2Ki")."""
    spec = expect_mapping(spec, what=what, example="{runs: 1, gpu: 1}")
    requests: dict[str, int] = {}
    for name, value in spec.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"{what}: resource names must be non-empty strings, got {name!r}")
        try:
            requests[name] = parse_quantity(value)
        except ValueError as err:
            raise ValueError(f"{what}.{name}: {err}") from None
    return MappingProxyType(requests)


_WORKLOAD_KEYS = (
    "runtime",
    "arrivals",
    "duration",
    "requests",
    "queue",
    "priority",
    "runs",
    "function",
)


def _priority(value: object, *, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what}: expected an integer, got {value!r}")
    return value


def parse_workload(spec: object, *, what: str) -> Workload:
    """A `Workload` from its scenario mapping; `ValueError` naming `what` and the key otherwise.

    `{runtime: python, arrivals: {poisson: {rate: 200/s}}, duration: {lognormal: {p50: 120ms,
    p99: 2s}}, requests: {runs: 1}, queue: q, priority: 0, runs: 1000, function: f}`;
    runtime, arrivals and duration are required.
    """
    spec = expect_mapping(
        spec, what=what, example="{runtime: python, arrivals: ..., duration: ...}"
    )
    check_keys(spec, what=what, known=_WORKLOAD_KEYS, required=("runtime", "arrivals", "duration"))
    queue = spec.get("queue")
    runs = spec.get("runs")
    function = spec.get("function", "")
    if function != "" and not isinstance(function, str):
        raise ValueError(f"{what}.function: expected a string, got {function!r}")
    requests = spec.get("requests")
    return Workload(
        runtime=expect_name(spec["runtime"], what=f"{what}.runtime"),
        process=parse_process(spec["arrivals"], what=f"{what}.arrivals"),
        duration=parse_distribution(spec["duration"], what=f"{what}.duration"),
        requests=None if requests is None else parse_requests(requests, what=f"{what}.requests"),
        queue=None if queue is None else expect_name(queue, what=f"{what}.queue"),
        priority=_priority(spec.get("priority", 0), what=f"{what}.priority"),
        runs=None if runs is None else _count(runs, what=f"{what}.runs"),
        function=str(function),
    )
