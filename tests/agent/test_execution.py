import pytest

from kruntimes import status
from kruntimes.agent.artifacts import ArtifactsResult
from kruntimes.agent.execution import Ending, next_version
from kruntimes.agent.outputs import OutputsResult
from kruntimes.model import FailureReason, ObjectMeta, Phase, RetryPolicy, Run, RunSpec
from kruntimes.runtimes.api import ExecutionState, ExecutionStatus

NO_OUTPUTS = OutputsResult({})
NO_ARTIFACTS = ArtifactsResult(())


def running(
    max_attempts: int = 1, reasons: tuple[str, ...] = (), timeout: float | None = None
) -> Run:
    spec = RunSpec(
        runtime="bash",
        timeout_seconds=timeout,
        retry_policy=RetryPolicy(max_attempts=max_attempts, retryable_reasons=reasons),
    )
    return status.claimed(
        status.bound(Run(ObjectMeta(name="r", uid="u"), spec), "p", "pu", 1.0), 2.0
    )


def done(state: ExecutionState, **kw: object) -> Ending:
    return Ending(ExecutionStatus("u-1", state, **kw))  # type: ignore[arg-type]


def test_success_with_outputs() -> None:
    run = next_version(
        running(), done(ExecutionState.SUCCEEDED), OutputsResult({"A": "1"}), NO_ARTIFACTS, 3.0
    )
    assert run.status.phase is Phase.SUCCEEDED
    assert run.status.outputs == {"A": "1"}


def test_bad_outputs_fail_a_successful_process() -> None:
    bad = OutputsResult({}, FailureReason.OUTPUTS_TOO_LARGE, "too big")
    run = next_version(running(), done(ExecutionState.SUCCEEDED), bad, NO_ARTIFACTS, 3.0)
    assert run.status.phase is Phase.FAILED
    assert run.status.message == "OutputsTooLarge: too big"


def test_failure_retries_per_policy_then_fails() -> None:
    failed = done(ExecutionState.FAILED, exit_code=3, stderr="boom\nlast line\n")
    first = next_version(running(max_attempts=2), failed, NO_OUTPUTS, NO_ARTIFACTS, 3.0)
    assert (first.status.phase, first.status.attempt) == (Phase.PENDING, 2)
    assert "exit code 3: last line" in first.status.message
    again = status.claimed(status.bound(first, "p", "pu", 4.0), 5.0)
    last = next_version(again, failed, NO_OUTPUTS, NO_ARTIFACTS, 6.0)
    assert last.status.phase is Phase.FAILED


def test_classification_hook_decides_the_reason_and_retryability() -> None:
    failed = done(ExecutionState.FAILED, exit_code=137)
    run = next_version(
        running(max_attempts=3, reasons=("Timeout",)),
        failed,
        NO_OUTPUTS,
        NO_ARTIFACTS,
        3.0,
        classify=lambda run, code, message, reason: "OOMKilled" if code == 137 else reason,
        retryable=lambda run, reason: reason == "OOMKilled",
    )
    assert run.status.phase is Phase.PENDING
    assert run.status.message.startswith("OOMKilled")


@pytest.mark.parametrize(
    ("ending", "phase"),
    [
        (Ending(None, timed_out=True), Phase.TIMEOUT),
        (Ending(None, cancelled=True), Phase.CANCELLED),
        (
            Ending(ExecutionStatus("u-1", ExecutionState.FAILED, error_message="Timeout: 2s")),
            Phase.TIMEOUT,
        ),
        (Ending(None, lost="server died"), Phase.FAILED),
    ],
)
def test_timeouts_cancels_and_lost_executions(ending: Ending, phase: Phase) -> None:
    run = next_version(running(timeout=2.0), ending, NO_OUTPUTS, NO_ARTIFACTS, 3.0)
    assert run.status.phase is phase


def test_cancel_is_never_retried_and_lost_is_retried() -> None:
    run = running(max_attempts=5)
    assert (
        next_version(run, Ending(None, cancelled=True), NO_OUTPUTS, NO_ARTIFACTS, 3.0).status.phase
        is Phase.CANCELLED
    )
    lost = next_version(run, Ending(None, lost="gone"), NO_OUTPUTS, NO_ARTIFACTS, 3.0)
    assert lost.status.phase is Phase.PENDING
    assert FailureReason.EXECUTION_LOST in lost.status.message


def test_a_function_result_becomes_the_result_output() -> None:
    ending = done(ExecutionState.SUCCEEDED, result='{"sum": 3}')
    run = next_version(running(), ending, OutputsResult({"A": "1"}), NO_ARTIFACTS, 3.0)
    assert run.status.outputs == {"A": "1", "result": '{"sum": 3}'}
    huge = done(ExecutionState.SUCCEEDED, result='"' + "x" * 9000 + '"')
    failed = next_version(running(), huge, NO_OUTPUTS, NO_ARTIFACTS, 3.0)
    assert failed.status.phase is Phase.FAILED
    assert "OutputsTooLarge" in failed.status.message
