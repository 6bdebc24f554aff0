"""Admission through the embedded engine: a RunQueue's quota holds end to end."""

from __future__ import annotations

import itertools

from attrs import evolve

from kruntimes.client import Client, run_spec
from kruntimes.model import Phase, RunQueueSpec


def test_a_quota_of_one_run_serializes_the_queue(engine: Client) -> None:
    engine.create_run_queue(RunQueueSpec(quota={"runs": 1}), "one-at-a-time")
    spec = evolve(run_spec("bash", ["bash", "-c", "sleep 0.3"]), queue="one-at-a-time")
    names = [engine.submit(spec, f"serial-{i}").metadata.name for i in range(3)]
    done = engine.wait_all(names, timeout=60)
    assert {run.status.phase for run in done} == {Phase.SUCCEEDED}
    spans = sorted((run.status.start_time, run.status.completion_time) for run in done)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end is not None
        assert start is not None
        assert start >= end, f"two Runs of a queue with quota 1 overlapped: {spans}"
    engine.delete_run_queue("one-at-a-time")
