"""The chart's controller arguments and the images' entry points are what the code accepts."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import click
import pytest
from helm import PLATFORM_CHART, REPO_ROOT, render_chart

from kruntimes.adapters.kubernetes.main import cli

ENTRYPOINTS = REPO_ROOT / "reference_deployment" / "entrypoints"


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"namespaces": ["team-a", "team-b"]},
        {"leaderElection": {"enabled": False}, "replicas": 1},
    ],
    ids=["defaults", "namespaces", "no-leader-election"],
)
def test_the_charts_controller_arguments_parse(values: dict[str, object]) -> None:
    objects = render_chart(PLATFORM_CHART, values)
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    command = cli.commands["controller"]
    context = command.make_context("controller", list(container["args"]))
    params = context.params
    assert params["metrics_bind_address"] == ":8080"
    assert params["health_probe_bind_address"] == ":8081"
    assert params["leader_elect"] is (values.get("leaderElection") is None)
    assert list(params["namespaces"]) == values.get("namespaces", [])
    assert params["agent_image"]


@pytest.mark.parametrize("name", ["controller", "agent"])
def test_entry_point_scripts_run_the_library_commands(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = ENTRYPOINTS / f"{name}.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--help"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(script), run_name="__main__")
    assert exit_info.value.code == 0
    assert "Usage: " in capsys.readouterr().out


def test_every_command_has_help() -> None:
    assert isinstance(cli, click.Group)
    assert set(cli.commands) == {"controller", "agent", "install-crds"}
    assert all(Path(ENTRYPOINTS / f"{n}.py").exists() for n in ("controller", "agent"))
