"""Duration distributions: their means and quantiles, determinism, and the scenario syntax."""

from __future__ import annotations

import math
import random
import re
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kruntimes.sim.distributions import (
    POD_STARTUP_DEFAULT,
    Constant,
    Distribution,
    Empirical,
    Exponential,
    LogNormal,
    Normal,
    Percentiles,
    Uniform,
    bind,
    parse_distribution,
    parse_seconds,
)

AZURE_LIKE = Percentiles(
    ((0, 0.002), (1, 0.005), (25, 0.06), (50, 0.1), (75, 0.15), (99, 0.9), (100, 3.1))
)

ALL: list[Distribution] = [
    Constant(0.25),
    Exponential(2.0),
    Uniform(1.0, 3.0),
    Normal(1.0, 0.2),
    Normal(0.1, 0.1),  # truncation matters: the mean moves up by ~29%
    LogNormal.from_quantiles(0.12, 2.0),
    Empirical((0.01, 0.012, 0.04, 0.5)),
    AZURE_LIKE,
]


def draws(dist: Distribution, n: int, seed: int = 1) -> list[float]:
    draw = bind(dist, random.Random(seed))
    return [draw() for _ in range(n)]


@pytest.mark.parametrize("dist", ALL, ids=repr)
def test_empirical_mean_matches_mean(dist: Distribution) -> None:
    xs = draws(dist, 60_000)
    assert min(xs) >= 0.0
    assert statistics.fmean(xs) == pytest.approx(dist.mean, rel=0.03)


@pytest.mark.parametrize("dist", ALL, ids=repr)
def test_bind_draws_what_sample_draws(dist: Distribution) -> None:
    rng = random.Random(7)
    by_sample = [dist.sample(rng) for _ in range(200)]
    assert draws(dist, 200, seed=7) == by_sample


@pytest.mark.parametrize("dist", ALL, ids=repr)
def test_same_seed_same_values(dist: Distribution) -> None:
    assert draws(dist, 100, seed=3) == draws(dist, 100, seed=3)


def test_bind_falls_back_to_sample_for_other_distributions() -> None:
    class Twice:
        mean = 2.0

        def sample(self, rng: random.Random) -> float:
            return 2.0 * rng.random()

    assert isinstance(Twice(), Distribution)
    assert draws(Twice(), 5, seed=1) == [2.0 * x for x in draws(Uniform(0, 1), 5, seed=1)]


def test_lognormal_from_quantiles_has_those_quantiles() -> None:
    dist = LogNormal.from_quantiles(0.12, 2.0)
    assert dist.quantile(0.5) == pytest.approx(0.12)
    assert dist.quantile(0.99) == pytest.approx(2.0)
    xs = sorted(draws(dist, 100_000))
    assert xs[50_000] == pytest.approx(0.12, rel=0.03)
    assert xs[99_000] == pytest.approx(2.0, rel=0.05)


def test_pod_startup_default_meets_the_kubernetes_slo_exactly() -> None:
    assert POD_STARTUP_DEFAULT.quantile(0.5) == pytest.approx(1.5)
    assert POD_STARTUP_DEFAULT.quantile(0.99) == pytest.approx(5.0)
    assert 1.5 < POD_STARTUP_DEFAULT.mean < 2.0


def test_normal_is_truncated_at_zero_by_resampling() -> None:
    dist = Normal(0.1, 0.1)
    xs = draws(dist, 50_000)
    assert min(xs) >= 0.0
    assert xs.count(0.0) == 0  # no mass piled up at 0, as clamping would give
    assert dist.loc == 0.1
    assert dist.mean == pytest.approx(0.1 + 0.1 * 0.2420 / 0.8413, rel=1e-3)
    assert Normal(5.0, 0.5).mean == pytest.approx(5.0)
    assert repr(dist) == "Normal(mean=0.1, stddev=0.1)"
    assert Normal(mean=0.1, stddev=0.1) == dist


def test_percentiles_follow_their_points() -> None:
    xs = sorted(draws(AZURE_LIKE, 50_000))
    assert xs[0] >= 0.002
    assert xs[-1] <= 3.1
    assert xs[25_000] == pytest.approx(0.1, rel=0.05)
    assert xs[12_500] == pytest.approx(0.06, rel=0.05)
    assert AZURE_LIKE.quantile(50) == 0.1
    assert AZURE_LIKE.quantile(62.5) == pytest.approx(0.125)
    assert AZURE_LIKE.quantile(100) == 3.1


@settings(max_examples=50, deadline=None)
@given(
    values=st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=2, max_size=8),
    seed=st.integers(0, 2**32),
)
def test_percentiles_samples_stay_within_min_and_max(values: list[float], seed: int) -> None:
    values.sort()
    ps = [100.0 * i / (len(values) - 1) for i in range(len(values))]
    dist = Percentiles(tuple(zip(ps, values, strict=True)))
    xs = draws(dist, 50, seed=seed)
    assert all(values[0] <= x <= values[-1] for x in xs)
    assert values[0] * (1 - 1e-12) <= dist.mean <= values[-1] * (1 + 1e-12)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Constant(-1), "must not be negative"),
        (lambda: Exponential(0), "greater than 0"),
        (lambda: Uniform(3, 1), "must not be less than low"),
        (lambda: Normal(-1, 1), "mean must not be negative"),
        (lambda: LogNormal.from_quantiles(2, 1), "p99 (1) must be greater than p50 (2)"),
        (lambda: LogNormal(0, -1), "sigma must not be negative"),
        (lambda: Empirical(()), "at least one value"),
        (lambda: Percentiles(((0, 1), (50, 2))), "must include 0 and 100"),
        (lambda: Percentiles(((0, 2), (100, 1))), "must not decrease"),
        (lambda: Constant(math.inf), "finite"),
    ],
)
def test_invalid_parameters_are_rejected(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        make()  # type: ignore[operator]


# -- scenario syntax ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (0.5, Constant(0.5)),
        (2, Constant(2.0)),
        ("250ms", Constant(0.25)),
        ("1m", Constant(60.0)),
        ("1.5", Constant(1.5)),
        ({"constant": "5ms"}, Constant(0.005)),
        ({"exponential": {"mean": "2s"}}, Exponential(2.0)),
        ({"uniform": {"low": "1s", "high": 3}}, Uniform(1.0, 3.0)),
        ({"normal": {"mean": "1s", "stddev": "200ms"}}, Normal(1.0, 0.2)),
        ({"lognormal": {"mu": -2.1, "sigma": 1.2}}, LogNormal(-2.1, 1.2)),
        ({"lognormal": {"p50": "120ms", "p99": "2s"}}, LogNormal.from_quantiles(0.12, 2.0)),
        ({"empirical": ["10ms", "12ms", 0.04]}, Empirical((0.01, 0.012, 0.04))),
        (
            {"percentiles": {0: "1ms", 50: "20ms", 99: "1s", 100: "3s"}},
            Percentiles(((0, 0.001), (50, 0.02), (99, 1.0), (100, 3.0))),
        ),
        (
            {"percentiles": {"p0": "1ms", "p100": "3s", "50%": "20ms"}},
            Percentiles(((0, 0.001), (50, 0.02), (100, 3.0))),
        ),
    ],
)
def test_parse_distribution(spec: object, expected: Distribution) -> None:
    assert parse_distribution(spec, what="w") == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"lognorml": {"p50": "1s", "p99": "2s"}},
            "workloads[0].duration: unknown distribution 'lognorml' (did you mean 'lognormal'?); "
            "expected one of constant, empirical, exponential, lognormal, normal, percentiles, "
            "uniform",
        ),
        (
            {"lognormal": {"p50": "2s", "p99": "1s"}},
            "workloads[0].duration.lognormal: p99 (1s) must be greater than p50 (2s)",
        ),
        (
            {"lognormal": {"p50": "1s", "sigma": 1}},
            "workloads[0].duration.lognormal: give either p50 and p99",
        ),
        ({"lognormal": {"p50": "1s"}}, "workloads[0].duration.lognormal: missing 'p99'"),
        (
            {"exponential": {"mean": "2s", "rate": 3}},
            "workloads[0].duration.exponential: unknown key 'rate'; expected any of mean",
        ),
        ({"exponential": {"mean": "-2s"}}, "workloads[0].duration.exponential.mean: must not be"),
        ({"exponential": "2s"}, "exponential takes a mapping like {mean: 2s}"),
        (-1, "workloads[0].duration: must not be negative"),
        ("fast", "workloads[0].duration: invalid duration 'fast'"),
        ("exponential", "'exponential' needs parameters, e.g. {exponential: {mean: 2s}}"),
        (True, "workloads[0].duration: expected a duration"),
        (None, "workloads[0].duration: expected a duration"),
        ([1, 2], "workloads[0].duration: expected a duration or a mapping"),
        ({"constant": 1, "uniform": 2}, "exactly one key"),
        ({"uniform": {"low": "3s", "high": "1s"}}, "high (1.0) must not be less than low (3.0)"),
        ({"empirical": []}, "workloads[0].duration.empirical: needs at least one value"),
        ({"empirical": ["1s", "x"]}, "workloads[0].duration.empirical[1]: invalid duration 'x'"),
        ({"percentiles": {0: "1ms", 50: "2ms"}}, "must include 0 and 100"),
        ({"percentiles": {0: "1ms", 150: "2ms"}}, "percentile 150 must be within 0..100"),
        ({"percentiles": {0: "5ms", 100: "2ms"}}, "values must not decrease"),
        ({"normal": {"mean": "1s"}}, "workloads[0].duration.normal: missing 'stddev'"),
        ({"lognormal": {"mu": "x", "sigma": 1}}, "lognormal.mu: expected a number, got 'x'"),
    ],
)
def test_parse_distribution_errors_name_the_place(spec: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_distribution(spec, what="workloads[0].duration")


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_parse_seconds_takes_numbers_as_is(x: float) -> None:
    assert parse_seconds(x, what="w") == x
    assert parse_seconds(repr(x), what="w") == x
