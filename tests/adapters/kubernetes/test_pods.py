"""Pod dicts <-> RuntimePod: the scheduler's view of a real Pod, and the agent's heartbeat."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kruntimes.adapters.kubernetes.pods import (
    CAPACITY_ANNOTATION_PREFIX,
    HEARTBEAT_CONDITION,
    RUNTIME_LABEL,
    heartbeat_condition,
    heartbeat_status_patch,
    pod_from_v1,
)
from kruntimes.codec import parse_timestamp
from kruntimes.model import DEFAULT_POD_CAPACITY, RuntimePod
from kruntimes.testing.hostile import hostile_trees, mutations
from kruntimes.testing.kube_pods import running_ready_status, runtime_pod_manifest

AT = 1_700_000_000.25
_ODD = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def live_pod(**status: Any) -> dict[str, Any]:
    pod = runtime_pod_manifest("bash-1", "ci", "bash", {"runs": 8}, labels={"team": "ci"})
    pod["metadata"]["uid"] = "uid-1"
    pod["status"] = status or running_ready_status(AT)
    return pod


def strategic_merge_conditions(pod: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """What the API server does with the patch: conditions merged by `type`."""
    merged = {c["type"]: c for c in pod["status"]["conditions"]}
    merged.update({c["type"]: c for c in patch["status"]["conditions"]})
    result = copy.deepcopy(pod)
    result["status"]["conditions"] = list(merged.values())
    return result


def test_constants_are_the_models() -> None:
    assert RUNTIME_LABEL == "runtime"
    assert CAPACITY_ANNOTATION_PREFIX == "kruntimes.io/capacity."
    assert HEARTBEAT_CONDITION == "kruntimes.io/RuntimedReady"


def test_a_running_ready_heartbeating_pod() -> None:
    assert pod_from_v1(live_pod()) == RuntimePod(
        name="bash-1",
        runtime="bash",
        namespace="ci",
        uid="uid-1",
        labels={"team": "ci", "runtime": "bash"},
        capacity={"runs": 8},
        ready=True,
        deleting=False,
        deletion_time=None,
        heartbeat=AT,
    )


@pytest.mark.parametrize(
    "labels", [None, {}, {"app": "web"}, {"runtime": ""}, {"runtime": 3}, "runtime=bash"]
)
def test_not_a_runtime_pod(labels: Any) -> None:
    pod = live_pod()
    pod["metadata"]["labels"] = labels
    assert pod_from_v1(pod) is None


@pytest.mark.parametrize("pod", [None, [], "pod", 3, {}, {"metadata": None}])
def test_not_a_pod_at_all(pod: Any) -> None:
    assert pod_from_v1(pod) is None


def test_without_capacity_annotations_the_default() -> None:
    pod = runtime_pod_manifest("p", "default", "bash", None)
    assert "annotations" not in pod["metadata"]
    found = pod_from_v1(pod)
    assert found is not None
    assert found.capacity == DEFAULT_POD_CAPACITY == {"runs": 2}
    assert (found.ready, found.heartbeat, found.uid) == (False, None, "")


@pytest.mark.parametrize(
    ("annotations", "capacity"),
    [
        ({"runs": "8", "example.com/gpu": "1"}, {"runs": 8, "example.com/gpu": 1}),
        ({"runs": "1Ki", "licences": "2k"}, {"runs": 1024, "licences": 2000}),
        ({"example.com/gpu": "1"}, {"runs": 2, "example.com/gpu": 1}),
        ({"runs": "abc", "gpu": "500m", "disk": "-1"}, {"runs": 2}),
        ({"runs": "0"}, {"runs": 2}),
        ({"": "4", "runs": "3"}, {"runs": 3}),
        ({"runs": 4}, {"runs": 2}),
        ({"runs": "9" * 40}, {"runs": 2}),
    ],
)
def test_capacity_annotations(annotations: dict[str, Any], capacity: dict[str, int]) -> None:
    """Unusable quantities (invalid, negative, zero, not whole, not strings) are ignored."""
    pod = live_pod()
    pod["metadata"]["annotations"] = {
        "other.io/thing": "7",
        **{CAPACITY_ANNOTATION_PREFIX + k: v for k, v in annotations.items()},
    }
    found = pod_from_v1(pod)
    assert found is not None
    assert dict(found.capacity) == capacity


@pytest.mark.parametrize(
    ("phase", "ready_status", "ready"),
    [("Running", "True", True), ("Running", "False", False), ("Pending", "True", False)],
)
def test_ready_needs_running_and_pod_ready(phase: str, ready_status: str, ready: bool) -> None:
    pod = live_pod()
    pod["status"]["phase"] = phase
    for cond in pod["status"]["conditions"]:
        if cond["type"] == "Ready":
            cond["status"] = ready_status
    found = pod_from_v1(pod)
    assert found is not None
    assert found.ready is ready


def test_deleting() -> None:
    pod = live_pod()
    pod["metadata"]["deletionTimestamp"] = "2023-11-14T22:13:50Z"
    found = pod_from_v1(pod)
    assert found is not None
    assert found.deleting
    assert found.deletion_time == parse_timestamp("2023-11-14T22:13:50Z").timestamp()
    pod["metadata"]["deletionTimestamp"] = "yesterday"
    odd = pod_from_v1(pod)
    assert odd is not None
    assert (odd.deleting, odd.deletion_time) == (True, None)


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c.update(status="False"),
        lambda c: c.update(status="Unknown"),
        lambda c: c.update(lastProbeTime="not a time"),
        lambda c: c.update(lastProbeTime=None),
        lambda c: c.pop("lastProbeTime"),
        lambda c: c.update(lastProbeTime=1_700_000_000),
        lambda c: c.update(lastProbeTime="2023-11-14"),
    ],
)
def test_no_heartbeat_unless_true_with_a_probe_time(change: Any) -> None:
    pod = live_pod()
    for cond in pod["status"]["conditions"]:
        if cond["type"] == HEARTBEAT_CONDITION:
            change(cond)
    found = pod_from_v1(pod)
    assert found is not None
    assert found.heartbeat is None
    assert found.ready


def test_no_heartbeat_condition() -> None:
    found = pod_from_v1(live_pod(**running_ready_status(AT, heartbeat=False)))
    assert found is not None
    assert (found.ready, found.heartbeat) == (True, None)


def test_heartbeat_patch_sets_only_our_condition() -> None:
    patch = heartbeat_status_patch(AT)
    assert patch == {"status": {"conditions": [heartbeat_condition(AT)]}}
    assert heartbeat_condition(AT) == {
        "type": "kruntimes.io/RuntimedReady",
        "status": "True",
        "reason": "Heartbeat",
        "lastProbeTime": "2023-11-14T22:13:20.250000Z",
        "lastTransitionTime": "2023-11-14T22:13:20.250000Z",
    }
    since = heartbeat_condition(AT, since=AT - 60.25)
    assert since["lastTransitionTime"] == "2023-11-14T22:12:20Z"


def test_heartbeat_round_trip_through_a_strategic_merge() -> None:
    """The agent's patch, merged as the API server does, reads back as the same time."""
    pod = live_pod(**running_ready_status(AT - 30))
    merged = strategic_merge_conditions(pod, heartbeat_status_patch(AT))
    found = pod_from_v1(merged)
    assert found is not None
    assert found.heartbeat == AT
    assert found.ready
    kubelet = {c["type"] for c in merged["status"]["conditions"]}
    assert {"Ready", "PodScheduled", HEARTBEAT_CONDITION} <= kubelet


@given(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
def test_any_heartbeat_time_round_trips(at: float) -> None:
    pod = live_pod(**running_ready_status(0, heartbeat=False))
    merged = strategic_merge_conditions(pod, heartbeat_status_patch(at))
    found = pod_from_v1(merged)
    assert found is not None
    assert found.heartbeat == pytest.approx(at, abs=1e-6)


def _pod_dicts() -> st.SearchStrategy[dict[str, Any]]:
    def build(capacity: dict[str, int] | None, at: float, heartbeat: bool) -> dict[str, Any]:
        pod = runtime_pod_manifest("p", "ns", "bash", capacity, labels={"a": "b"})
        pod["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
        pod["status"] = running_ready_status(at, heartbeat)
        return pod

    return st.builds(
        build,
        st.none() | st.dictionaries(st.sampled_from(["runs", "gpu"]), st.integers(0, 9)),
        st.floats(0, 4e9),
        st.booleans(),
    )


@_ODD
@given(mutations(_pod_dicts()) | hostile_trees())
def test_odd_input_never_raises(pod: Any) -> None:
    found = pod_from_v1(pod)
    assert found is None or isinstance(found, RuntimePod)
    if found is not None:
        assert found.runtime
        assert all(isinstance(v, int) and v > 0 for v in found.capacity.values())
        assert found.heartbeat is None or isinstance(found.heartbeat, float)


@_ODD
@given(
    st.dictionaries(
        st.sampled_from(["metadata", "status", "spec"]),
        st.fixed_dictionaries(
            {},
            optional={
                "labels": st.just({"runtime": "x"}) | hostile_trees(),
                "annotations": hostile_trees(),
                "deletionTimestamp": hostile_trees(),
                "name": hostile_trees(),
                "phase": st.just("Running") | hostile_trees(),
                "conditions": st.lists(
                    st.fixed_dictionaries(
                        {"type": st.sampled_from(["Ready", HEARTBEAT_CONDITION])},
                        optional={
                            "status": st.just("True") | hostile_trees(),
                            "lastProbeTime": st.text(max_size=40) | hostile_trees(),
                        },
                    )
                    | hostile_trees(),
                    max_size=4,
                ),
            },
        )
        | hostile_trees(),
    )
)
def test_odd_values_in_the_right_places_never_raise(pod: dict[str, Any]) -> None:
    found = pod_from_v1(pod)
    assert found is None or isinstance(found, RuntimePod)
