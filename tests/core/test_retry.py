import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruntimes.core import MAX_BACKOFF_SECONDS, backoff_delay, decide_retry, reason_is_retryable
from kruntimes.model import FailureReason, RetryPolicy

policies = st.builds(
    RetryPolicy,
    max_attempts=st.integers(1, 100),
    backoff_seconds=st.floats(0, 120, allow_nan=False),
    retryable_reasons=st.lists(st.sampled_from(list(FailureReason)), max_size=4).map(tuple),
)


@pytest.mark.parametrize(
    ("backoff", "attempt", "expected"),
    [
        (1.0, 1, 0.0),
        (1.0, 2, 1.0),
        (1.0, 3, 2.0),
        (1.0, 4, 4.0),
        (1.0, 7, 32.0),
        (1.0, 8, 60.0),
        (0.5, 2, 0.5),
        (10.0, 5, 60.0),
        (0.0, 9, 0.0),
        (1.0, 100, 60.0),
    ],
)
def test_backoff_doubles_from_attempt_two_and_caps_at_sixty(
    backoff: float, attempt: int, expected: float
) -> None:
    assert backoff_delay(RetryPolicy(backoff_seconds=backoff), attempt) == expected


@given(policies, st.integers(2, 100))
def test_backoff_formula(policy: RetryPolicy, attempt: int) -> None:
    expected = min(policy.backoff_seconds * 2 ** (attempt - 2), MAX_BACKOFF_SECONDS)
    assert backoff_delay(policy, attempt) == pytest.approx(expected)


@given(policies, st.integers(1, 100), st.sampled_from(list(FailureReason)), st.floats(0, 1e9))
def test_decide_retry(policy: RetryPolicy, attempt: int, reason: FailureReason, now: float) -> None:
    decision = decide_retry(policy, attempt, reason, now)
    should = (
        reason is not FailureReason.CANCELLED
        and attempt < policy.max_attempts
        and (not policy.retryable_reasons or reason in policy.retryable_reasons)
    )
    assert decision.retry == should
    if should:
        assert decision.attempt == attempt + 1
        assert decision.not_before == now + backoff_delay(policy, attempt + 1)


def test_cancelled_never_retries_even_when_a_plugin_says_so() -> None:
    policy = RetryPolicy(max_attempts=5)
    assert not decide_retry(policy, 1, FailureReason.CANCELLED, 0.0, retryable=True).retry
    assert not reason_is_retryable(policy, FailureReason.CANCELLED)


def test_plugin_override_cannot_exceed_attempts_but_can_allow_other_reasons() -> None:
    policy = RetryPolicy(max_attempts=2, retryable_reasons=("Timeout",))
    assert not decide_retry(policy, 1, "PodGone", 0.0).retry
    assert decide_retry(policy, 1, "PodGone", 0.0, retryable=True).retry
    assert not decide_retry(policy, 2, "PodGone", 0.0, retryable=True).retry
    assert not decide_retry(policy, 1, "Timeout", 0.0, retryable=False).retry
