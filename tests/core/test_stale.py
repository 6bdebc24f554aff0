import pytest

from kruntimes.core import stale_verdict, unhealthy_since
from kruntimes.model import FailureReason, Phase, RuntimePod

POD = RuntimePod(name="p", runtime="bash", uid="u1", heartbeat=100.0)


def verdict(
    phase: Phase = Phase.RUNNING,
    pod: RuntimePod | None = POD,
    since: float | None = None,
    now: float = 101.0,
    uid: str | None = "u1",
):
    return stale_verdict(
        phase=phase,
        assigned_uid=uid,
        pod=pod,
        unhealthy_since=since,
        now=now,
        stale_after=30.0,
        terminating_grace=30.0,
    )


def test_healthy_pod_is_not_stale() -> None:
    v = verdict()
    assert v.reason is None
    assert v.recheck_at is None


@pytest.mark.parametrize("phase", [Phase.SCHEDULED, Phase.RUNNING, Phase.READY])
def test_gone_pod_is_stale_at_once(phase: Phase) -> None:
    assert verdict(phase=phase, pod=None).reason is FailureReason.POD_GONE


def test_replaced_pod_uid_is_gone() -> None:
    v = verdict(uid="old")
    assert v.reason is FailureReason.POD_GONE
    assert "replaced" in v.message


def test_terminating_pod_lets_running_runs_finish_for_the_grace_period() -> None:
    pod = RuntimePod(name="p", runtime="bash", uid="u1", deleting=True, deletion_time=100.0)
    early = verdict(pod=pod, now=120.0)
    assert early.reason is None
    assert early.recheck_at == 130.0
    assert verdict(pod=pod, now=130.0).reason is FailureReason.POD_TERMINATING
    assert (
        verdict(phase=Phase.SCHEDULED, pod=pod, now=100.0).reason is FailureReason.POD_TERMINATING
    )


def test_unhealthy_pod_goes_stale_after_threshold() -> None:
    assert verdict(since=100.0, now=129.0).recheck_at == 130.0
    assert verdict(since=100.0, now=130.0).reason is FailureReason.POD_UNHEALTHY


def test_unhealthy_since() -> None:
    fresh = RuntimePod(name="p", runtime="bash", heartbeat=100.0)
    assert unhealthy_since(fresh, 110.0, 15.0, None) is None
    assert unhealthy_since(fresh, 116.0, 15.0, None) == 100.0
    never = RuntimePod(name="p", runtime="bash", heartbeat=None)
    assert unhealthy_since(never, 50.0, 15.0, None) == 50.0
    assert unhealthy_since(never, 50.0, 15.0, 20.0) == 20.0
    unready = RuntimePod(name="p", runtime="bash", heartbeat=100.0, ready=False)
    assert unhealthy_since(unready, 101.0, 15.0, 99.0) == 99.0
