"""Random distributions of durations (seconds) for simulated workloads, and their scenario syntax.

Every distribution is a small frozen value with `sample(rng) -> float` and a `mean`.
Sampling takes the `random.Random` to draw from, so a stream is reproducible from its
seed and nothing here holds hidden state. On hot paths call `bind(dist, rng)` once and
then the returned zero-argument function: it skips the method lookup and, for the
common distributions, goes straight to the `random.Random` method.

Scenario files (YAML, already loaded) write a distribution as a number of seconds or a
Go duration (`"250ms"`), meaning a constant, or as a mapping with one key naming the
distribution: see `parse_distribution` and docs/simulator-workloads.md.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import math
import random
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from statistics import NormalDist
from typing import Any, Protocol, runtime_checkable

from attrs import field, frozen

from kruntimes.codec.durations import parse_duration

__all__ = [
    "POD_STARTUP_DEFAULT",
    "Constant",
    "Distribution",
    "Empirical",
    "Exponential",
    "LogNormal",
    "Normal",
    "Percentiles",
    "Uniform",
    "bind",
    "parse_distribution",
    "parse_seconds",
]

_Z99 = NormalDist().inv_cdf(0.99)
"""The standard normal's 99th percentile, 2.3263..."""


@runtime_checkable
class Distribution(Protocol):
    """A distribution of non-negative floats (seconds, usually)."""

    def sample(self, rng: random.Random) -> float:
        """One value drawn with `rng`."""
        ...

    @property
    def mean(self) -> float:
        """The expected value of `sample`."""
        ...


def bind(dist: Distribution, rng: random.Random) -> Callable[[], float]:
    """A zero-argument function drawing from `dist` with `rng`: the fast way to sample in a loop.

    It draws exactly what `dist.sample(rng)` would, call for call.
    """
    sampler = getattr(dist, "sampler", None)
    if sampler is not None:
        fn: Callable[[], float] = sampler(rng)
        return fn
    return functools.partial(dist.sample, rng)


def _finite(value: float, name: str) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _nonneg(value: float, name: str) -> None:
    _finite(value, name)
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")


def _positive(value: float, name: str) -> None:
    _finite(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be greater than 0, got {value!r}")


@frozen
class Constant:
    """Always `value`."""

    value: float

    def __attrs_post_init__(self) -> None:
        _nonneg(self.value, "value")

    def sample(self, rng: random.Random) -> float:
        return self.value

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        return itertools.repeat(self.value).__next__

    @property
    def mean(self) -> float:
        return self.value


@frozen
class Exponential:
    """Exponential with the given mean (memoryless: inter-arrival gaps, think times)."""

    mean: float

    def __attrs_post_init__(self) -> None:
        _positive(self.mean, "mean")

    def sample(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.mean)

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        return functools.partial(rng.expovariate, 1.0 / self.mean)


@frozen
class Uniform:
    """Uniform on [low, high]."""

    low: float
    high: float

    def __attrs_post_init__(self) -> None:
        _nonneg(self.low, "low")
        _finite(self.high, "high")
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must not be less than low ({self.low})")

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        return functools.partial(rng.uniform, self.low, self.high)

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2.0


@frozen
class Normal:
    """Normal with location `mean` and `stddev`, truncated at 0 by *resampling* negative draws.

    Resampling (rather than clamping to 0) keeps the shape and puts no mass at exactly 0.
    `mean` must not be negative, so at least half of the draws are kept. Truncation moves
    the actual mean up from the `mean` parameter by stddev * pdf(a) / cdf(a), a = mean/stddev:
    nothing to speak of once mean >= 3 * stddev, +29% for mean == stddev. The `mean`
    property is the exact mean of what `sample` returns; `loc` is the parameter.
    """

    _loc: float = field(alias="mean")
    stddev: float

    def __attrs_post_init__(self) -> None:
        _nonneg(self._loc, "mean")
        _nonneg(self.stddev, "stddev")

    def __repr__(self) -> str:
        return f"Normal(mean={self._loc!r}, stddev={self.stddev!r})"

    @property
    def loc(self) -> float:
        """The `mean` parameter: the mean before truncation."""
        return self._loc

    def sample(self, rng: random.Random) -> float:
        gauss, mu, sigma = rng.gauss, self._loc, self.stddev
        while True:
            x = gauss(mu, sigma)
            if x >= 0.0:
                return x

    @property
    def mean(self) -> float:
        if self.stddev == 0.0:
            return self._loc
        a = self._loc / self.stddev
        std = NormalDist()
        return self._loc + self.stddev * std.pdf(a) / std.cdf(a)


@frozen
class LogNormal:
    """exp(N(mu, sigma)): right-skewed, the usual shape of service and start-up times.

    `mu` and `sigma` are of the underlying normal (log seconds); the median is exp(mu).
    `LogNormal.from_quantiles(p50, p99)` builds one from its median and 99th percentile.
    """

    mu: float
    sigma: float

    def __attrs_post_init__(self) -> None:
        _finite(self.mu, "mu")
        _nonneg(self.sigma, "sigma")

    @classmethod
    def from_quantiles(cls, p50: float, p99: float) -> LogNormal:
        """The log-normal with median `p50` and 99th percentile `p99` (both > 0, p99 > p50)."""
        _positive(p50, "p50")
        _positive(p99, "p99")
        if p99 <= p50:
            raise ValueError(f"p99 ({p99}) must be greater than p50 ({p50})")
        return cls(math.log(p50), math.log(p99 / p50) / _Z99)

    def quantile(self, q: float) -> float:
        """The value below which a fraction `q` (0 < q < 1) of the draws fall."""
        return math.exp(self.mu + self.sigma * NormalDist().inv_cdf(q))

    def sample(self, rng: random.Random) -> float:
        return rng.lognormvariate(self.mu, self.sigma)

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        return functools.partial(rng.lognormvariate, self.mu, self.sigma)

    @property
    def mean(self) -> float:
        return math.exp(self.mu + self.sigma * self.sigma / 2.0)


POD_STARTUP_DEFAULT = LogNormal.from_quantiles(1.5, 5.0)
"""Start-up time of a Runtime Pod: median 1.5 s, 99th percentile 5 s (mean about 1.7 s).

The 99th percentile is the Kubernetes pod start-up SLO (SIG Scalability: schedulable
stateless Pods, image pull and init containers excluded, p99 per cluster-day <= 5 s): a
cluster meeting its SLO just meets it. The median is an assumption (a typical warm-node
start); scenarios with measured figures should say `lognormal: {p50: .., p99: ..}`.
"""


def _float_tuple(values: Iterable[float]) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


@frozen
class Empirical:
    """Each observed value equally likely (resampling of measurements)."""

    values: tuple[float, ...] = field(converter=_float_tuple)

    def __attrs_post_init__(self) -> None:
        if not self.values:
            raise ValueError("needs at least one value")
        for i, v in enumerate(self.values):
            _nonneg(v, f"value [{i}]")

    def sample(self, rng: random.Random) -> float:
        return rng.choice(self.values)

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        return functools.partial(rng.choice, self.values)

    @property
    def mean(self) -> float:
        return math.fsum(self.values) / len(self.values)


def _points(points: Iterable[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    return tuple((float(p), float(v)) for p, v in points)


@frozen
class Percentiles:
    """A piecewise-linear inverse CDF through (percentile, value) points.

    Percentiles are in percent (0..100), strictly increasing, and must include 0 and 100
    (the minimum and maximum): between two points the values are spread uniformly.
    Values must not decrease. This is how published duration percentiles are replayed,
    e.g. the Azure Functions trace's 0, 1, 25, 50, 75, 99 and 100th percentiles.
    """

    points: tuple[tuple[float, float], ...] = field(converter=_points)
    _ps: tuple[float, ...] = field(init=False, repr=False, eq=False)
    _vs: tuple[float, ...] = field(init=False, repr=False, eq=False)
    _slopes: tuple[float, ...] = field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        pts = self.points
        if len(pts) < 2:
            raise ValueError("needs at least the 0th and the 100th percentile")
        ps = tuple(p for p, _ in pts)
        vs = tuple(v for _, v in pts)
        for p, v in pts:
            _finite(p, "percentile")
            _nonneg(v, f"the value of percentile {p:g}")
        if ps[0] != 0.0 or ps[-1] != 100.0:
            raise ValueError(
                f"percentiles must include 0 and 100 (the minimum and the maximum), "
                f"got {', '.join(f'{p:g}' for p in ps)}"
            )
        for (p0, v0), (p1, v1) in itertools.pairwise(pts):
            if p1 <= p0:
                raise ValueError(f"percentiles must increase: {p1:g} comes after {p0:g}")
            if v1 < v0:
                raise ValueError(
                    f"values must not decrease: percentile {p1:g} is {v1:g}, "
                    f"below percentile {p0:g} at {v0:g}"
                )
        slopes = tuple((v1 - v0) / (p1 - p0) for (p0, v0), (p1, v1) in itertools.pairwise(pts))
        object.__setattr__(self, "_ps", ps)
        object.__setattr__(self, "_vs", vs)
        object.__setattr__(self, "_slopes", slopes)

    def quantile(self, percentile: float) -> float:
        """The value at `percentile` (0..100), interpolated linearly."""
        if not 0.0 <= percentile <= 100.0:
            raise ValueError(f"percentile must be within 0..100, got {percentile}")
        i = min(bisect_right(self._ps, percentile), len(self._ps) - 1)
        return self._vs[i - 1] + self._slopes[i - 1] * (percentile - self._ps[i - 1])

    def sample(self, rng: random.Random) -> float:
        u = rng.random() * 100.0
        i = bisect_right(self._ps, u) - 1  # 0 <= u < 100, so 0 <= i < len - 1
        return self._vs[i] + self._slopes[i] * (u - self._ps[i])

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        ps, vs, slopes, rand = self._ps, self._vs, self._slopes, rng.random

        def draw() -> float:
            u = rand() * 100.0
            i = bisect_right(ps, u) - 1
            return vs[i] + slopes[i] * (u - ps[i])

        return draw

    @property
    def mean(self) -> float:
        total = math.fsum(
            (p1 - p0) / 100.0 * (v0 + v1) / 2.0
            for (p0, v0), (p1, v1) in itertools.pairwise(self.points)
        )
        # a weighted mean of the values lies within them; rounding must not take it out
        # (with subnormal values the halving above underflows to 0)
        return min(max(total, self.points[0][1]), self.points[-1][1])


# -- scenario syntax ------------------------------------------------------------------------


def parse_seconds(value: object, *, what: str) -> float:
    """Non-negative seconds from a number or a Go duration string ("250ms", "1m30s")."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(
            f"{what}: expected seconds (a number) or a duration like 250ms, 2s or 1m, "
            f"got {_shown(value)}"
        )
    if isinstance(value, str):
        text = value.strip()
        try:
            seconds = parse_duration(text)
        except ValueError:
            try:
                seconds = float(text)
            except ValueError:
                raise ValueError(
                    f"{what}: invalid duration {value!r}: use a number of seconds or "
                    f"a duration like 250ms, 2s, 1m30s or 1h"
                ) from None
    else:
        seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"{what}: must be a finite number of seconds, got {value!r}")
    if seconds < 0:
        raise ValueError(f"{what}: must not be negative, got {value!r}")
    return seconds


def _number(value: object, *, what: str) -> float:
    """A finite plain number (no units), e.g. a log-normal's mu."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{what}: expected a number, got {_shown(value)}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{what}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{what}: must be a finite number, got {value!r}")
    return number


def _shown(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:60] + '...'}"


def shown(value: object) -> str:
    """`repr(value)`, cut to 60 characters: error messages quote what they were given."""
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "..."


def expect_mapping(value: object, *, what: str, example: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{what}: expected a mapping like {example}, got {shown(value)}")
    return value


def expect_name(value: object, *, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what}: expected a non-empty name, got {shown(value)}")
    return value


def check_keys(
    spec: Mapping[object, object],
    *,
    what: str,
    known: Iterable[str],
    required: Iterable[str] = (),
) -> None:
    """`ValueError` naming `what` for a key not in `known` (listing them) or a missing one."""
    known = tuple(known)
    for key in spec:
        if key not in known:
            hint = _did_you_mean(str(key), known)
            raise ValueError(
                f"{what}: unknown key {key!r}{hint}; expected {_one_of(known, 'any of')}"
            )
    for key in required:
        if key not in spec:
            raise ValueError(f"{what}: missing {key!r}")


def _one_of(names: Iterable[str], lead: str = "one of") -> str:
    return f"{lead} {', '.join(names)}"


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def single_key(
    spec: Mapping[object, object], *, what: str, kinds: Iterable[str], noun: str = "kind"
) -> str:
    """The one key of `{kind: params}`, checked against `kinds`."""
    kinds = tuple(kinds)
    if len(spec) != 1:
        keys = ", ".join(repr(k) for k in spec) or "none"
        raise ValueError(
            f"{what}: expected a mapping with exactly one key naming the {noun} "
            f"({_one_of(kinds)}), got keys {keys}"
        )
    (kind,) = spec
    if not isinstance(kind, str) or kind not in kinds:
        raise ValueError(
            f"{what}: unknown {noun} {kind!r}{_did_you_mean(str(kind), kinds)}; "
            f"expected {_one_of(kinds)}"
        )
    return kind


def _params(value: object, *, what: str, kind: str, example: str) -> Mapping[object, object]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{what}: {kind} takes a mapping like {example}, got {_shown(value)}")
    return value


_KINDS = ("constant", "empirical", "exponential", "lognormal", "normal", "percentiles", "uniform")


def parse_distribution(spec: object, *, what: str) -> Distribution:
    """The distribution a scenario file describes; `ValueError` naming `what` otherwise.

    A number or a duration string is a `Constant`; otherwise a mapping with one key:
    `{constant: 5ms}`, `{exponential: {mean: 2s}}`, `{uniform: {low: 1s, high: 3s}}`,
    `{normal: {mean: 1s, stddev: 200ms}}`, `{lognormal: {p50: 120ms, p99: 2s}}` or
    `{lognormal: {mu: -2.1, sigma: 1.2}}`, `{empirical: [10ms, 12ms, 40ms]}`,
    `{percentiles: {0: 1ms, 50: 20ms, 99: 1s, 100: 3s}}`.
    """
    if isinstance(spec, bool) or spec is None:
        raise ValueError(
            f"{what}: expected a duration (like 250ms) or a distribution "
            f"(like {{exponential: {{mean: 2s}}}}), got {_shown(spec)}"
        )
    if isinstance(spec, int | float | str):
        if isinstance(spec, str) and spec.strip() in _KINDS:
            raise ValueError(
                f"{what}: {spec.strip()!r} needs parameters, e.g. "
                f"{{{spec.strip()}: {_EXAMPLES[spec.strip()]}}}"
            )
        return Constant(parse_seconds(spec, what=what))
    if not isinstance(spec, Mapping):
        raise ValueError(
            f"{what}: expected a duration or a mapping naming a distribution "
            f"({_one_of(_KINDS)}), got {_shown(spec)}"
        )
    kind = single_key(spec, what=what, kinds=_KINDS, noun="distribution")
    here = f"{what}.{kind}"
    try:
        return _PARSERS[kind](spec[kind], here)
    except ValueError as err:
        message = str(err)
        if message.startswith(here):
            raise
        raise ValueError(f"{here}: {message}") from None


_EXAMPLES = {
    "constant": "5ms",
    "empirical": "[10ms, 12ms, 40ms]",
    "exponential": "{mean: 2s}",
    "lognormal": "{p50: 120ms, p99: 2s}",
    "normal": "{mean: 1s, stddev: 200ms}",
    "percentiles": "{0: 1ms, 50: 20ms, 99: 1s, 100: 3s}",
    "uniform": "{low: 1s, high: 3s}",
}


def _parse_constant(value: object, what: str) -> Distribution:
    return Constant(parse_seconds(value, what=what))


def _parse_exponential(value: object, what: str) -> Distribution:
    params = _params(value, what=what, kind="exponential", example=_EXAMPLES["exponential"])
    check_keys(params, what=what, known=("mean",), required=("mean",))
    return Exponential(parse_seconds(params["mean"], what=f"{what}.mean"))


def _parse_uniform(value: object, what: str) -> Distribution:
    params = _params(value, what=what, kind="uniform", example=_EXAMPLES["uniform"])
    check_keys(params, what=what, known=("low", "high"), required=("low", "high"))
    low = parse_seconds(params["low"], what=f"{what}.low")
    high = parse_seconds(params["high"], what=f"{what}.high")
    return Uniform(low, high)


def _parse_normal(value: object, what: str) -> Distribution:
    params = _params(value, what=what, kind="normal", example=_EXAMPLES["normal"])
    check_keys(params, what=what, known=("mean", "stddev"), required=("mean", "stddev"))
    mean = parse_seconds(params["mean"], what=f"{what}.mean")
    return Normal(mean, parse_seconds(params["stddev"], what=f"{what}.stddev"))


def _parse_lognormal(value: object, what: str) -> Distribution:
    params = _params(value, what=what, kind="lognormal", example=_EXAMPLES["lognormal"])
    check_keys(params, what=what, known=("p50", "p99", "mu", "sigma"))
    by_quantiles = "p50" in params or "p99" in params
    by_params = "mu" in params or "sigma" in params
    if by_quantiles == by_params:
        raise ValueError(
            f"{what}: give either p50 and p99 (durations) or mu and sigma "
            f"(of the underlying normal, in log seconds)"
        )
    if by_quantiles:
        check_keys(params, what=what, known=("p50", "p99"), required=("p50", "p99"))
        p50 = parse_seconds(params["p50"], what=f"{what}.p50")
        p99 = parse_seconds(params["p99"], what=f"{what}.p99")
        if p50 <= 0:
            raise ValueError(f"{what}.p50: must be greater than 0")
        if p99 <= p50:
            raise ValueError(
                f"{what}: p99 ({params['p99']}) must be greater than p50 ({params['p50']})"
            )
        return LogNormal.from_quantiles(p50, p99)
    check_keys(params, what=what, known=("mu", "sigma"), required=("mu", "sigma"))
    mu = _number(params["mu"], what=f"{what}.mu")
    sigma = _number(params["sigma"], what=f"{what}.sigma")
    if sigma < 0:
        raise ValueError(f"{what}.sigma: must not be negative, got {params['sigma']!r}")
    return LogNormal(mu, sigma)


def _parse_empirical(value: object, what: str) -> Distribution:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ValueError(
            f"{what}: empirical takes a list of durations like "
            f"{_EXAMPLES['empirical']}, got {_shown(value)}"
        )
    values = tuple(parse_seconds(v, what=f"{what}[{i}]") for i, v in enumerate(value))
    if not values:
        raise ValueError(f"{what}: needs at least one value")
    return Empirical(values)


def _percentile_key(key: object, *, what: str) -> float:
    text = key
    if isinstance(key, str):
        text = key.strip().removeprefix("p").removesuffix("%").strip()
    if isinstance(text, bool) or not isinstance(text, int | float | str):
        raise ValueError(f"{what}: percentile {key!r} must be a number within 0..100")
    try:
        p = float(text)
    except ValueError:
        raise ValueError(
            f"{what}: percentile {key!r} must be a number within 0..100 (like 50 or p50)"
        ) from None
    if not 0.0 <= p <= 100.0:
        raise ValueError(f"{what}: percentile {key!r} must be within 0..100")
    return p


def _parse_percentiles(value: object, what: str) -> Distribution:
    params = _params(value, what=what, kind="percentiles", example=_EXAMPLES["percentiles"])
    points = sorted(
        (_percentile_key(k, what=what), parse_seconds(v, what=f"{what}[{k}]"))
        for k, v in params.items()
    )
    for (p0, _), (p1, _) in itertools.pairwise(points):
        if p0 == p1:
            raise ValueError(f"{what}: percentile {p0:g} is given twice")
    return Percentiles(tuple(points))


_PARSERS: dict[str, Callable[[object, str], Distribution]] = {
    "constant": _parse_constant,
    "empirical": _parse_empirical,
    "exponential": _parse_exponential,
    "lognormal": _parse_lognormal,
    "normal": _parse_normal,
    "percentiles": _parse_percentiles,
    "uniform": _parse_uniform,
}
