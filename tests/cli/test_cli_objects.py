"""`krt get`, `list`, `logs`, `cancel`, `runtime` and `version`, in every output format."""

from __future__ import annotations

import json

import pytest
import yaml
from krt_helpers import Krt, scheduling_reason

from kruntimes import __version__
from kruntimes.client import Client, run_spec
from kruntimes.codec import run_from_dict, runtime_from_dict
from kruntimes.model import Phase


@pytest.fixture(scope="module")
def finished(engine: Client) -> str:
    """A Succeeded bash Run with output on both streams."""
    spec = run_spec("bash", ["bash", "-c", "echo to-out; echo to-err >&2"])
    return engine.run(spec, "finished-run", timeout=20).metadata.name


def test_get_in_every_format(krt: Krt, finished: str) -> None:
    table = krt("get", finished)
    assert table.exit_code == 0
    fields = dict(line.split(":", 1) for line in table.stdout.splitlines() if ":" in line)
    assert fields["Name"].strip() == finished
    assert fields["Phase"].strip() == "Succeeded"
    assert fields["Runtime"].strip() == "bash"
    assert "Completed True RunCompleted" in table.stdout
    as_json = run_from_dict(json.loads(krt("get", finished, "-o", "json").stdout))
    as_yaml = run_from_dict(yaml.safe_load(krt("get", finished, "-o", "yaml").stdout))
    assert as_json == as_yaml
    assert as_json.status.phase is Phase.SUCCEEDED


def test_list_filters_and_formats(krt: Krt, engine: Client, finished: str) -> None:
    engine.submit(run_spec("python", source="pass"), "listed-python")
    rows = [line.split() for line in krt("list").stdout.splitlines()]
    assert rows[0] == ["NAME", "RUNTIME", "PHASE", "REASON", "POD", "AGE"]
    assert finished in [row[0] for row in rows]
    python_only = krt("list", "--runtime", "python", "-o", "json")
    listing = json.loads(python_only.stdout)
    assert listing["kind"] == "List"
    assert {item["spec"]["runtime"] for item in listing["items"]} == {"python"}
    engine.wait("listed-python", timeout=20)
    succeeded = yaml.safe_load(krt("list", "--phase", "succeeded", "-o", "yaml").stdout)
    assert {i["status"]["phase"] for i in succeeded["items"]} == {"Succeeded"}
    everywhere = krt("list", "-A").stdout.splitlines()
    assert everywhere[0].split()[:2] == ["NAMESPACE", "NAME"]
    empty = krt("list", "--runtime", "nothing-here")
    assert empty.exit_code == 0
    assert empty.stdout == ""
    assert "No Runs found." in empty.stderr


def test_logs_keep_the_streams_apart_and_follow_to_the_end(krt: Krt, finished: str) -> None:
    result = krt("logs", finished)
    assert result.stdout == "to-out\n"
    assert result.stderr == "to-err\n"
    name = krt("run", "-r", "bash", "--", "bash", "-c", "echo one; sleep 0.2; echo two").stdout
    followed = krt("logs", "-f", name.strip())
    assert followed.exit_code == 0
    assert followed.stdout == "one\ntwo\n"


def test_cancel_a_running_run_then_again(krt: Krt, engine: Client) -> None:
    name = engine.submit(run_spec("bash", ["sleep", "30"])).metadata.name
    first = krt("cancel", name)
    assert first.exit_code == 0
    assert first.stdout == f"run/{name} cancel requested\n"
    assert engine.wait(name, timeout=20).status.phase is Phase.CANCELLED
    again = krt("cancel", name)
    assert again.stdout == f"run/{name} already Cancelled\n"


def test_a_run_for_an_unknown_runtime_shows_why_it_waits(krt: Krt, engine: Client) -> None:
    name = krt("run", "-r", "no-such-pool", "--", "true").stdout.strip()
    assert engine.engine is not None
    assert scheduling_reason(engine.engine.config.state_dir, name) == "NoPodForRuntime"
    shown = krt("get", name).stdout
    assert "Pending" in shown
    assert "NoPodForRuntime" in shown
    assert "no Runtime Pod with label runtime=no-such-pool" in shown
    row = next(line for line in krt("list").stdout.splitlines() if line.startswith(name))
    assert row.split()[1:4] == ["no-such-pool", "Pending", "NoPodForRuntime"]
    krt("cancel", name)


@pytest.mark.parametrize(
    "command",
    [["get", "nope"], ["logs", "nope"], ["logs", "-f", "nope"], ["cancel", "nope"],
     ["runtime", "get", "nope"]],
)  # fmt: skip
def test_unknown_names_exit_3_with_one_line(krt: Krt, command: list[str]) -> None:
    result = krt(*command)
    assert result.exit_code == 3
    assert result.stderr == "error: Run default/nope not found\n" or (
        result.stderr == "error: Runtime default/nope not found\n"
    )


def test_runtime_list_and_get(krt: Krt) -> None:
    rows = [line.split()[:5] for line in krt("runtime", "list").stdout.splitlines()]
    assert rows[0] == ["NAME", "KIND", "REPLICAS", "READY", "CAPACITY"]
    assert ["bash", "bash", "2", "2", "runs=8"] in rows
    assert ["python", "python", "2", "2", "runs=8"] in rows
    listing = json.loads(krt("runtime", "list", "-o", "json").stdout)
    assert {"bash", "python"} <= {i["metadata"]["name"] for i in listing["items"]}
    bash = runtime_from_dict(yaml.safe_load(krt("runtime", "get", "bash", "-o", "yaml").stdout))
    assert bash.spec.replicas == 2
    assert krt("runtime", "get", "python").stdout.splitlines()[1].split()[:2] == [
        "python",
        "python",
    ]


def test_version_and_help(krt: Krt) -> None:
    assert krt("version").stdout.startswith(f"krt {__version__} (kruntimes.io/v1alpha1, Python ")
    helped = krt("--help").stdout
    for command in ("up", "down", "apply", "run", "get", "list", "logs", "cancel", "runtime"):
        assert f"  {command} " in helped
