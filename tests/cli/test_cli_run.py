"""`krt run`: what it prints, and the exit codes scripts rely on."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from krt_helpers import Krt

from kruntimes.client import Client


def test_wait_prints_the_output_and_exits_0_when_succeeded(krt: Krt) -> None:
    result = krt("run", "-r", "bash", "--wait", "--", "bash", "-c", "echo out; echo err >&2")
    assert result.exit_code == 0
    assert result.stdout == "out\n"
    lines = result.stderr.splitlines()
    assert lines[0] == "err"
    assert lines[1].endswith(" Succeeded")


def test_wait_exits_1_when_failed_with_the_reason(krt: Krt) -> None:
    result = krt("run", "-r", "bash", "--wait", "--", "bash", "-c", "exit 3")
    assert result.exit_code == 1
    assert "Failed (RuntimeError: " in result.stderr


def test_wait_exits_124_on_timeout(krt: Krt) -> None:
    result = krt("run", "-r", "bash", "--wait", "--timeout", "300ms", "--", "sleep", "30")
    assert result.exit_code == 124
    assert " Timeout (Timeout: exceeded spec.timeout of 0.3s)" in result.stderr


def test_wait_exits_130_when_cancelled(krt: Krt, engine: Client) -> None:
    assert engine.engine is not None
    state = engine.engine.config.state_dir
    cancel_itself = f'"{sys.executable}" -m kruntimes.cli cancel "$KRUNTIME_RUN_NAME"; sleep 30'
    result = krt(
        "run", "-r", "bash", "--wait", "-e", f"KRUNTIMES_STATE_DIR={state}",
        "--", "bash", "-c", cancel_itself,
    )  # fmt: skip
    assert result.exit_code == 130
    assert "Cancelled (Cancelled: cancel requested)" in result.stderr


def test_without_wait_it_prints_the_name_or_the_created_run(krt: Krt, engine: Client) -> None:
    result = krt("run", "-r", "bash", "--name", "named-run", "--", "true")
    assert result.exit_code == 0
    assert result.stdout == "named-run\n"
    assert engine.wait("named-run", timeout=20).spec.mode.task is not None
    result = krt("run", "-r", "bash", "-o", "json", "--", "true")
    created = json.loads(result.stdout)
    assert created["kind"] == "Run"
    assert created["spec"]["mode"]["task"]["args"] == ["true"]
    result = krt("run", "-r", "bash", "--wait", "-o", "yaml", "--", "echo", "quiet")
    final = yaml.safe_load(result.stdout)
    assert final["status"]["phase"] == "Succeeded"
    assert result.exit_code == 0


def test_env_inline_source_and_function_input(krt: Krt, tmp_path: Path) -> None:
    result = krt(
        "run", "-r", "bash", "--wait", "-e", "GREETING=hi there", "--", "printenv", "GREETING"
    )
    assert result.stdout == "hi there\n"
    script = tmp_path / "snippet.py"
    script.write_text("import sys\nprint('argv', sys.argv[1:])\n")
    result = krt("run", "-r", "python", "--wait", "-f", str(script), "--", "a", "b")
    assert result.stdout == "argv ['a', 'b']\n"
    function = (
        "import os\n"
        "def handle(payload):\n"
        "    with open(os.environ['KRUNTIME_OUTPUTS'], 'a') as f:\n"
        '        f.write(f"sum={sum(payload)}\\n")\n'
    )
    result = krt(
        "run", "-r", "python", "--wait", "-o", "json", "-f", "-",
        "--handler", "fn:handle", "--input", "[1, 2, 3]",
        input=function,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"]["outputs"] == {"sum": "6"}


def test_retry_attempts_and_backoff(krt: Krt) -> None:
    result = krt(
        "run", "-r", "bash", "--wait", "--retry-attempts", "2", "--retry-backoff", "10ms",
        "-o", "json", "--", "false",
    )  # fmt: skip
    assert result.exit_code == 1
    status = json.loads(result.stdout)["status"]
    assert status["attempt"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-r", "bash"], "nothing to run"),
        (["-r", "bash", "--timeout", "soon", "--", "true"], "invalid duration 'soon'"),
        (["-r", "bash", "-e", "NOVALUE", "--", "true"], "'NOVALUE' is not KEY=VALUE"),
        (["-r", "python", "--handler", "m:f", "--input", "{oops"], "--input: "),
        (["-r", "python", "-f", "-", "--input", "1"], "input is passed to a handler"),
        (["-r", "python", "--handler", "m:f", "--", "arg"], "not as args"),
        (["-r", "bash", "--retry-attempts", "0", "--", "true"], "0 is not in the range"),
        (["--", "true"], "Missing option '-r'"),
    ],
)
def test_usage_errors_exit_2(krt: Krt, args: list[str], message: str) -> None:
    result = krt("run", *args, input="print(1)")
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_an_invalid_run_exits_65_with_the_field_path(krt: Krt) -> None:
    result = krt("run", "-r", "Not_A_Runtime!", "--", "true")
    assert result.exit_code == 65
    assert result.stderr.startswith("error: spec.runtime: ")
    assert "Traceback" not in result.output
