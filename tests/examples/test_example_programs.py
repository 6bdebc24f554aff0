"""Every example runs and does what it says, against a live engine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kruntimes.cli import cli
from kruntimes.client import Client

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, check=False, env=env, capture_output=True, text=True, timeout=120
    )


def test_quickstart_bash(example_env: dict[str, str]) -> None:
    done = run(["bash", str(EXAMPLES / "quickstart_bash.sh")], example_env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "hello from a warm bash pod\n" in out
    assert "step 1\nstep 2\nstep 3\n" in out
    assert "on a warm worker" in out
    assert "a Run that sleeps past its timeout exits with 124" in out


def test_quickstart_python(example_env: dict[str, str]) -> None:
    done = run([sys.executable, str(EXAMPLES / "quickstart_python.py")], example_env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "runtimes: bash, python"
    assert lines[1].endswith(": Succeeded: hello from a warm bash pod")
    assert ": Succeeded: outputs {'python': '3." in lines[2]
    assert lines[3].endswith(": Failed: RuntimeError: exited with code 1")


def test_quickstart_python_without_an_engine(tmp_path: Path, example_env: dict[str, str]) -> None:
    env = {**example_env, "KRUNTIMES_STATE_DIR": str(tmp_path)}
    done = run([sys.executable, str(EXAMPLES / "quickstart_python.py")], env)
    assert done.returncode == 69
    assert "krt up --detach" in done.stderr


def test_batch_1000(example_env: dict[str, str]) -> None:
    done = run([sys.executable, str(EXAMPLES / "batch_1000.py")], example_env)
    assert done.returncode == 0, done.stderr
    assert "1000 Runs: {'Succeeded': 1000}" in done.stdout
    assert "sum of squares 332833500 (correct)" in done.stdout


def test_agent_tool_call(example_env: dict[str, str]) -> None:
    done = run([sys.executable, str(EXAMPLES / "agent_tool_call.py")], example_env)
    assert done.returncode == 0, done.stderr
    messages = [json.loads(line) for line in done.stdout.splitlines()]
    assert [m["tool_call_id"] for m in messages] == ["call_1", "call_2", "call_3"]
    assert messages[0]["content"] == 42
    assert messages[1]["content"] == {"words": 5, "longest": "pools"}
    assert "ZeroDivisionError: division by zero" in messages[2]["content"]["error"]


def test_custom_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    here = EXAMPLES / "custom_runtime"
    monkeypatch.syspath_prepend(str(here))  # `krt up --plugin` imports it here, then the engine
    env = {"KRUNTIMES_STATE_DIR": str(tmp_path), "PYTHONPATH": str(here)}

    def krt(*args: str) -> str:
        result = CliRunner().invoke(cli, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result.stdout

    krt("up", "--detach", "--memory", "--plugin", "kruntimes_uppercase")
    try:
        assert krt("apply", "-f", str(here / "runtime.yaml")) == "runtime/uppercase created\n"
        with Client.connect(tmp_path) as client:
            assert len(client.wait_runtime_ready("uppercase", timeout=30)) == 1
            krt("apply", "-f", str(here / "runs.yaml"))
            done = client.wait_all(["shout-source", "shout-args"], timeout=30)
        assert [r.status.outputs for r in done] == [{"length": "27"}, {"length": "19"}]
        assert krt("logs", "shout-source") == "HELLO FROM A CUSTOM RUNTIME\n"
        assert krt("run", "-r", "uppercase", "--wait", "--", "hello", "world") == "HELLO WORLD\n"
    finally:
        krt("down")
