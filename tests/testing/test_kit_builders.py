"""Builders make the model objects a policy test needs, with defaults that make sense."""

from __future__ import annotations

from kruntimes.model import LabelSelector, Phase, RuntimePod
from kruntimes.testing import (
    affinity,
    make_pod,
    make_run,
    retry_policy,
    selector,
    timestamp,
)


def test_make_pod_defaults_to_a_pod_that_needs_a_heartbeat() -> None:
    pod = make_pod("p1", capacity={"runs": 4})
    assert pod == RuntimePod(name="p1", runtime="bash", uid="p1-uid", capacity={"runs": 4})
    assert pod.heartbeat is None
    assert make_pod("p2").capacity == {"runs": 2}


def test_make_run_is_a_fresh_submission() -> None:
    run = make_run("r1", requests={"cpu": 2}, labels={"app": "web"})
    assert run.key == ("default", "r1")
    assert run.status.phase is Phase.PENDING
    assert run.status.attempt == 1
    assert run.spec.resources.requests == {"runs": 1, "cpu": 2}
    assert run.metadata.labels == {"app": "web"}


def test_make_run_can_arrive_bound() -> None:
    run = make_run("r1", phase=Phase.RUNNING, pod="p1", attempt=2)
    assert (run.status.assigned_pod, run.status.assigned_pod_uid) == ("p1", "p1-uid")
    assert run.status.attempt == 2


def test_affinity_from_plain_mappings() -> None:
    aff = affinity(
        required=[{"app": "db"}],
        preferred=[(40, {"tier": "cache"})],
        anti_required=[selector(app="web")],
    )
    assert aff.run_affinity is not None
    assert aff.run_anti_affinity is not None
    assert aff.run_affinity.required[0].label_selector == LabelSelector({"app": "db"})
    assert aff.run_affinity.preferred[0].weight == 40
    assert aff.run_anti_affinity.required[0].label_selector.matches({"app": "web"})
    assert aff.run_anti_affinity.preferred == ()
    assert affinity().is_empty


def test_retry_policy_and_timestamps() -> None:
    policy = retry_policy(4, backoff=2.5, reasons=["PodGone"])
    assert (policy.max_attempts, policy.backoff_seconds, policy.retryable_reasons) == (
        4,
        2.5,
        ("PodGone",),
    )
    assert timestamp(1_700_000_000.5).timestamp() == 1_700_000_000.5
