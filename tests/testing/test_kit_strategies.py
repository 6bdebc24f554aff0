"""The strategies generate what they promise, and any generated history plays cleanly."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kruntimes.model import Phase
from kruntimes.testing import Harness
from kruntimes.testing.scenario import Cycle, play
from kruntimes.testing.strategies import (
    clusters,
    event_sequences,
    pods,
    retry_policies,
    runs,
    scheduler_configs,
)

FAST = settings(max_examples=40, deadline=None)


@FAST
@given(clusters())
def test_clusters_have_distinct_live_pods(cluster: list) -> None:  # type: ignore[type-arg]
    names = [p.name for p in cluster]
    assert len(names) == len(set(names))
    assert all(p.ready and p.heartbeat is not None and not p.deleting for p in cluster)


@FAST
@given(pods(healthy=None), runs(allow_invalid=True), retry_policies())
def test_pods_and_runs_are_schedulable_objects(pod, run, policy) -> None:  # type: ignore[no-untyped-def]
    assert pod.uid
    assert run.status.phase is Phase.PENDING
    assert 1 <= policy.max_attempts <= 4
    assert policy.backoff_seconds >= 0
    if pod.deleting:
        assert pod.deletion_time is not None


@settings(max_examples=60, deadline=None)
@given(event_sequences(allow_invalid=True), scheduler_configs())
def test_any_history_plays_and_replays(steps, config) -> None:  # type: ignore[no-untyped-def]
    h = Harness(config=config)
    plans = play(h, [*steps, Cycle()])
    assert len(plans) == sum(isinstance(s, Cycle) for s in steps) + 1
    h.assert_deterministic()
    for key, run in h.store.runs.items():
        if not run.status.phase.is_terminal:
            assert h.scheduler.run_state(key) is not None, f"{key} vanished"


@FAST
@given(st.data())
def test_selectors_in_generated_affinity_match_generated_labels(data: st.DataObject) -> None:
    from kruntimes.testing.strategies import run_labels, selectors

    selector = data.draw(selectors())
    labels = data.draw(run_labels())
    assert isinstance(selector.matches(labels), bool)
    assert not selector.is_empty
