"""`krt up` / `krt down`, no engine, and errors that are not the user's."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from krt_helpers import Krt

from kruntimes.cli import cli
from kruntimes.client import AsyncClient


def in_dir(state: Path, *args: str) -> Result:
    """`krt ARGS` with `$KRUNTIMES_STATE_DIR` set to `state`."""
    return CliRunner().invoke(cli, list(args), env={"KRUNTIMES_STATE_DIR": str(state)})


def test_up_detached_serves_until_down(tmp_path: Path) -> None:
    up = in_dir(tmp_path, "up", "--detach", "--memory")
    assert up.exit_code == 0, up.output
    pid = int((tmp_path / "engine.pid").read_text())
    assert f"started in the background (pid {pid})" in up.stderr
    try:
        twice = in_dir(tmp_path, "up")
        assert twice.exit_code == 4
        assert (
            twice.stderr
            == f"error: a kruntimes engine is already running at {tmp_path}/engine.sock\n"
        )
        ran = in_dir(tmp_path, "run", "-r", "bash", "--wait", "--", "echo", "detached")
        assert ran.stdout == "detached\n"
    finally:
        down = in_dir(tmp_path, "down")
    assert down.exit_code == 0
    assert down.stderr == f"kruntimes engine stopped (pid {pid})\n"
    assert not (tmp_path / "engine.pid").exists()
    again = in_dir(tmp_path, "down")
    assert again.exit_code == 69
    assert again.stderr == f"error: no kruntimes engine is running for {tmp_path}\n"


@pytest.mark.parametrize(
    "command",
    [["list", "STATE"], ["get", "x", "STATE"], ["run", "-r", "bash", "STATE", "--", "true"],
     ["cancel", "x", "STATE"], ["logs", "x", "STATE"], ["runtime", "list", "STATE"]],
)  # fmt: skip
def test_without_an_engine_every_command_says_how_to_start_one(
    tmp_path: Path, command: list[str]
) -> None:
    i = command.index("STATE")
    args = [*command[:i], "--state-dir", str(tmp_path), *command[i + 1 :]]
    result = CliRunner().invoke(cli, args, env={"KRUNTIMES_STATE_DIR": "/nonexistent"})
    assert result.exit_code == 69
    assert result.stderr == (
        f"error: no kruntimes engine at {tmp_path}/engine.sock; start one with: krt up --detach\n"
    )


def test_apply_without_an_engine_is_one_line_too(tmp_path: Path) -> None:
    manifest = tmp_path / "runs.yaml"
    run = "apiVersion: kruntimes.io/v1alpha1\nkind: Run\nmetadata: {name: r%d}\n"
    run += 'spec: {runtime: bash, mode: {task: {args: ["true"]}}}\n'
    manifest.write_text("---\n".join(run % i for i in range(25)))
    result = in_dir(tmp_path, "apply", "-f", str(manifest))
    assert result.exit_code == 69
    assert len(result.stderr.splitlines()) == 1


def test_a_plugin_that_cannot_be_imported_is_a_usage_error(tmp_path: Path) -> None:
    result = in_dir(tmp_path, "up", "--plugin", "no_such_module_here")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot import plugin no_such_module_here: ")


def test_internal_errors_are_one_line_unless_debugging(
    krt: Krt, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: AsyncClient, **filters: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(AsyncClient, "list", broken)
    result = krt("list")
    assert result.exit_code == 70
    assert result.stderr == "error: internal error: RuntimeError: boom (KRT_DEBUG=1 shows where)\n"
    monkeypatch.setenv("KRT_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        krt("list")


def test_an_interrupted_wait_says_the_run_goes_on(
    krt: Krt, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def interrupted(self: AsyncClient, *args: object, **options: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(AsyncClient, "wait", interrupted)
    result = krt("run", "-r", "bash", "--wait", "--no-logs", "--name", "left-running", "--", "true")
    assert result.exit_code == 130
    assert result.stderr == (
        "error: interrupted; left-running goes on (stop it with: krt cancel left-running)\n"
    )
    monkeypatch.setattr(AsyncClient, "runtimes", interrupted)
    result = krt("runtime", "list")
    assert result.exit_code == 130
    assert result.stderr == "error: interrupted\n"
