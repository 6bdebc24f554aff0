"""Retry semantics as pure functions of policy, attempt, reason and time.

Attempt 1 is the first try. The delay before attempt n >= 2 is
`backoff * 2**(n - 2)`, capped at 60 s. `Cancelled` never retries; an empty
`retryableReasons` means every other reason retries.
"""

from __future__ import annotations

from attrs import frozen

from kruntimes.model import FailureReason, RetryPolicy

MAX_BACKOFF_SECONDS = 60.0


def backoff_delay(policy: RetryPolicy, attempt: int) -> float:
    """Seconds to wait before `attempt` (0 for the first attempt)."""
    if attempt < 2:
        return 0.0
    exponent = min(attempt - 2, 1000)  # 2.0**1024 would overflow; the cap is reached long before
    return min(policy.backoff_seconds * 2.0**exponent, MAX_BACKOFF_SECONDS)


def reason_is_retryable(policy: RetryPolicy, reason: str) -> bool:
    if reason == FailureReason.CANCELLED:
        return False
    return not policy.retryable_reasons or reason in policy.retryable_reasons


@frozen
class RetryDecision:
    """`retry` with the next `attempt` not before `not_before`, or give up."""

    retry: bool
    attempt: int
    not_before: float


def decide_retry(
    policy: RetryPolicy,
    attempt: int,
    reason: str,
    now: float,
    *,
    retryable: bool | None = None,
) -> RetryDecision:
    """What follows a failed `attempt`. `retryable` overrides the policy's reason list
    (a plugin's classification), but `Cancelled` and the attempt budget always hold."""
    allowed = reason_is_retryable(policy, reason) if retryable is None else retryable
    if reason == FailureReason.CANCELLED or attempt >= policy.max_attempts or not allowed:
        return RetryDecision(retry=False, attempt=attempt, not_before=now)
    nxt = attempt + 1
    return RetryDecision(retry=True, attempt=nxt, not_before=now + backoff_delay(policy, nxt))
