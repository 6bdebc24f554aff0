"""RunQueues from `krt`: applied with Runs, listed and shown in every format, deleted."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from krt_helpers import RUN, RUN_QUEUE, Krt

from kruntimes.client import Client, run_spec
from kruntimes.codec import run_queue_from_dict
from kruntimes.model import Phase


def _queued_run(name: str, queue: str) -> str:
    return RUN.format(name=name).replace("spec:\n", f"spec:\n  queue: {queue}\n")


def test_a_queue_and_its_runs_from_one_file(krt: Krt, engine: Client, tmp_path: Path) -> None:
    """Runs first in the file: the queue is still created before them."""
    manifest = tmp_path / "queued.yaml"
    documents = [
        _queued_run("queued-a", "team-a"),
        RUN_QUEUE.format(name="team-a", runs=2, weight=2),
        _queued_run("queued-b", "team-a"),
    ]
    manifest.write_text("---\n".join(documents))
    first = krt("apply", "-f", str(manifest))
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == [
        "run/queued-a created",
        "runqueue/team-a created",
        "run/queued-b created",
    ]
    done = engine.wait_all(["queued-a", "queued-b"], timeout=20)
    assert {run.status.phase for run in done} == {Phase.SUCCEEDED}
    manifest.write_text(RUN_QUEUE.format(name="team-a", runs=2, weight=0.5))
    again = krt("apply", "-f", str(manifest))
    assert again.stdout == "runqueue/team-a configured\n"
    assert engine.get_run_queue("team-a").spec.weight == 0.5
    assert krt("apply", "-f", str(manifest)).stdout == "runqueue/team-a unchanged\n"
    assert krt("delete", "runqueue", "team-a").stdout == "runqueue/team-a deleted\n"


def test_get_runqueues_in_every_format(krt: Krt, engine: Client) -> None:
    manifest = RUN_QUEUE.format(name="shown", runs=8, weight=1.5)
    engine.apply([run_queue_from_dict(yaml.safe_load(manifest))])
    try:
        for word in ("runqueues", "runqueue", "rq", "RunQueues"):
            rows = [line.split() for line in krt("get", word).stdout.splitlines()]
            assert rows[0] == ["NAME", "WEIGHT", "COHORT", "QUOTA", "PENDING", "ADMITTED"]
            assert ["shown", "1.5", "research", "runs=0/8", "0", "0"] in rows
        everywhere = krt("get", "rq", "-A").stdout.splitlines()
        assert everywhere[0].split()[:2] == ["NAMESPACE", "NAME"]
        listing = json.loads(krt("get", "runqueues", "-o", "json").stdout)
        assert listing["kind"] == "List"
        assert "shown" in [item["metadata"]["name"] for item in listing["items"]]
        one = krt("get", "runqueue", "shown", "-o", "yaml")
        queue = run_queue_from_dict(yaml.safe_load(one.stdout))
        assert (queue.spec.quota, queue.spec.weight, queue.spec.cohort) == (
            {"runs": 8},
            1.5,
            "research",
        )
        table = krt("get", "rq", "shown").stdout.splitlines()
        assert table[1].split()[:4] == ["shown", "1.5", "research", "runs=0/8"]
    finally:
        engine.delete_run_queue("shown")


def test_unknown_queues_and_odd_arguments(krt: Krt) -> None:
    missing = krt("get", "runqueue", "nope")
    assert missing.exit_code == 3
    assert missing.stderr == "error: RunQueue default/nope not found\n"
    gone = krt("delete", "rq", "nope")
    assert gone.exit_code == 3
    assert gone.stderr == "error: RunQueue default/nope not found\n"
    assert krt("delete", "pods", "x").exit_code == 2
    assert krt("get", "runqueue", "a", "b").exit_code == 2
    assert krt("get", "some-run", "-A").exit_code == 2


def test_a_run_named_like_the_kind_is_still_reachable(krt: Krt, engine: Client) -> None:
    engine.submit(run_spec("bash", ["true"]), "rq")
    assert krt("get", "run", "rq", "-o", "json").exit_code == 0
    assert json.loads(krt("get", "run", "rq", "-o", "json").stdout)["kind"] == "Run"
    assert krt("get", "rq").exit_code == 0  # the kind wins


def test_no_queues_says_so(krt: Krt) -> None:
    result = krt("get", "runqueues", "-n", "nothing-queued")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "No RunQueues found.\n"
