"""Weighted fair sharing: under saturation each queue holds its weight's share of a pool."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kruntimes import new_scheduler
from kruntimes.core import SchedulerConfig
from kruntimes.testing.fairness import expected_shares, saturate

WEIGHTS = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d", "e"]),
    st.sampled_from([0.5, 1.0, 2.0, 3.0, 5.0]),
    min_size=2,
    max_size=5,
)


@settings(max_examples=25, deadline=None)
@given(weights=WEIGHTS)
def test_each_queue_converges_to_within_ten_percent_of_its_weight(
    weights: dict[str, float],
) -> None:
    # 400 slots: one slot is well under 10 % of the smallest share drawn (0.5 of 15.5)
    shares = saturate(
        new_scheduler(load_entry_points=False), weights, pods=2, slots_per_pod=200, rounds=800
    )
    for name, expected in expected_shares(weights).items():
        assert abs(shares[name] - expected) <= 0.1 * expected, (name, shares, weights)


def test_without_admission_the_pool_goes_first_come_first_served() -> None:
    """The baseline: the same backlog, admission off, is not shared by weight."""
    shares = saturate(
        new_scheduler(SchedulerConfig(admission=False), load_entry_points=False),
        {"a": 1.0, "b": 1.0},
        rounds=100,
    )
    assert shares["a"] == 1.0  # a's Runs arrived first and keep the pool
