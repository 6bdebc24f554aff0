"""What an attempt's end means for its Run: the agent's pure decision, before the write.

Given the Runtime Server's final status, the outputs file, the artifacts and
the retry policy, pick the next Run version: Succeeded, retried (Pending,
attempt + 1), or Failed / Timeout / Cancelled with a reason.
"""

from __future__ import annotations

from collections.abc import Callable

from attrs import frozen

from kruntimes import status
from kruntimes.agent.artifacts import ArtifactsResult
from kruntimes.agent.outputs import MAX_KEYS, MAX_VALUE_BYTES, OutputsResult
from kruntimes.core.retry import decide_retry
from kruntimes.model import FailureReason, Phase, Run
from kruntimes.runtimes.api import ExecutionState, ExecutionStatus

Classify = Callable[[Run, int | None, str, str], str]
"""`(run, exit_code, message, reason) -> reason`: the `kruntimes_classify_failure` hook."""
Retryable = Callable[[Run, str], bool | None]


@frozen
class Ending:
    """How an attempt ended, as the agent observed it."""

    status: ExecutionStatus | None
    timed_out: bool = False
    cancelled: bool = False
    lost: str | None = None
    """Set when the execution cannot be found or the server failed: the message."""


def _no_classify(run: Run, exit_code: int | None, message: str, reason: str) -> str:
    return reason


def _no_opinion(run: Run, reason: str) -> bool | None:
    return None


RESULT_KEY = "result"


def with_result(outputs: OutputsResult, result: str | None) -> OutputsResult:
    """A python function's JSON return value joins the outputs as `result`, within the limits.

    A function that returns None (JSON `null`) adds nothing."""
    if result is None or result == "null" or outputs.error is not None:
        return outputs
    if len(result.encode()) > MAX_VALUE_BYTES:
        return OutputsResult(
            {},
            FailureReason.OUTPUTS_TOO_LARGE,
            f"the function's JSON result is longer than {MAX_VALUE_BYTES} bytes; "
            "return less, or write it as an artifact",
        )
    merged = {**outputs.outputs, RESULT_KEY: result}
    if len(merged) > MAX_KEYS:
        return OutputsResult(
            {}, FailureReason.OUTPUTS_TOO_LARGE, f"more than {MAX_KEYS} output keys"
        )
    return OutputsResult(merged)


def failure_message(result: ExecutionStatus) -> str:
    if result.error_message:
        return result.error_message
    tail = result.stderr.strip().splitlines()
    detail = f": {tail[-1]}" if tail else ""
    return f"exit code {result.exit_code}{detail}"


def next_version(
    run: Run,
    ending: Ending,
    outputs: OutputsResult,
    artifacts: ArtifactsResult,
    now: float,
    *,
    classify: Classify = _no_classify,
    retryable: Retryable = _no_opinion,
) -> Run:
    """The Run as it should be written after this attempt."""
    result = ending.status
    if ending.cancelled:
        return status.finished_unsuccessfully(
            run,
            Phase.CANCELLED,
            FailureReason.CANCELLED,
            "cancel requested",
            now,
            outputs=outputs.outputs,
        )
    if ending.timed_out or (result is not None and result.error_message.startswith("Timeout")):
        reason: str = FailureReason.TIMEOUT
        message = f"exceeded spec.timeout of {run.spec.timeout_seconds:g}s"
    elif ending.lost is not None or result is None:
        reason, message = FailureReason.EXECUTION_LOST, ending.lost or "the execution was lost"
    elif result.state is ExecutionState.SUCCEEDED:
        outputs = with_result(outputs, result.result)
        if outputs.error is not None:
            reason, message = outputs.error, outputs.message
        elif artifacts.error is not None:
            reason, message = artifacts.error, artifacts.message
        else:
            return status.succeeded(run, now, outputs.outputs, artifacts.refs)
    else:
        message = failure_message(result)
        reason = classify(run, result.exit_code, message, FailureReason.RUNTIME_ERROR)
    policy = run.spec.retry_policy
    decision = decide_retry(
        policy, run.status.attempt, reason, now, retryable=retryable(run, reason)
    )
    if decision.retry:
        return status.requeued(run, decision.attempt, reason, message, now)
    phase = Phase.TIMEOUT if reason == FailureReason.TIMEOUT else Phase.FAILED
    return status.finished_unsuccessfully(
        run, phase, reason, message, now, outputs=outputs.outputs, artifacts=artifacts.refs
    )
