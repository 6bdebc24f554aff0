"""`krt simulate`: a scenario file in, tables or JSON out, result.json and plots written.

No engine is needed: these tests never start one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from kruntimes.cli import _simulate, cli

SCENARIO = {
    "name": "cli test",
    "seed": 3,
    "horizon": "10s",
    "pools": [{"runtime": "python", "replicas": 2, "capacity": {"runs": 2}}],
    "workloads": [
        {
            "runtime": "python",
            "arrivals": {"poisson": {"rate": "10/s"}},
            "duration": {"exponential": {"mean": "100ms"}},
        }
    ],
}


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    return write(tmp_path / "scenario.yaml", SCENARIO)


@pytest.fixture(autouse=True)
def work_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory: where `./simulation-<name>/` goes."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def krt(*args: str) -> Result:
    """`krt simulate ARGS`; `.files`: what it wrote in the working directory."""
    result = CliRunner().invoke(cli, ["simulate", *args], catch_exceptions=False)
    result.files = sorted(str(p) for p in Path().rglob("*") if p.is_file())  # type: ignore[attr-defined]
    return result


def write(path: Path, scenario: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    return path


def test_json_prints_one_document_and_writes_nothing(scenario_file: Path) -> None:
    result = krt("-f", str(scenario_file), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["scenario"] == "cli test"
    assert data["seed"] == 3
    assert list(data["results"]) == ["kruntimes"]
    assert data["results"]["kruntimes"]["arrived"] > 50
    assert data["baseline"]["system"] == "one-pod-per-run"
    assert data["recommendation"] is None
    assert result.files == []  # type: ignore[attr-defined]


def test_seed_and_horizon_override_the_file(scenario_file: Path) -> None:
    args = ("-f", str(scenario_file), "--json", "--seed", "11", "--horizon", "5s")
    data = json.loads(krt(*args).stdout)
    assert (data["seed"], data["horizon"]) == (11, 5.0)
    assert data["results"]["kruntimes"]["horizon"] == 5.0


def test_tables_and_result_json_without_plots(scenario_file: Path) -> None:
    result = krt("-f", str(scenario_file), "--no-plots")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "cli test: kruntimes vs one-pod-per-run" in out
    assert "end-to-end p99" in out
    assert "wrote simulation-cli-test/result.json" in out
    assert result.files == ["simulation-cli-test/result.json"]  # type: ignore[attr-defined]


def test_out_writes_result_json_and_the_plots(scenario_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    result = krt("-f", str(scenario_file), "--out", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads((out / "result.json").read_text())
    assert data["results"]["kruntimes"]["scenario"] == "cli test"
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == [
        "compare.png",
        "latency_cdf.png",
        "over_time_kruntimes.png",
        "over_time_one-pod-per-run.png",
    ]
    for name in pngs:
        assert f"wrote {out / name}" in result.stdout
        assert (out / name).read_bytes().startswith(b"\x89PNG")


def test_policies_are_compared_and_the_recommendation_shown(tmp_path: Path) -> None:
    scenario = {
        **SCENARIO,
        "policies": {
            "spread": {"scheduler": {"ordering": "least-loaded"}},
            "bin-pack": {"scheduler": {"ordering": "most-allocated"}},
        },
        "recommend": {"target": {"p99": "50ms", "latency": "queueing"}, "maxReplicas": 8},
    }
    path = write(tmp_path / "s.yaml", scenario)
    result = krt("-f", str(path), "--no-plots")
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "spread" in line)
    assert header.index("spread") < header.index("bin-pack") < header.index("one-pod-per-run")
    assert "pool size for python: queueing p99 <= 50 ms: " in result.stdout
    assert "<- chosen" in result.stdout


def test_without_matplotlib_plots_are_skipped_with_a_note(
    scenario_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_simulate, "have_matplotlib", lambda: False)
    result = krt("-f", str(scenario_file))
    assert result.exit_code == 0, result.output
    assert "note: no plots: matplotlib is not installed (pip install 'kruntimes[sim]')" in (
        result.stderr
    )
    assert result.files == ["simulation-cli-test/result.json"]  # type: ignore[attr-defined]


def test_plots_asked_for_without_matplotlib_fail_before_simulating(
    scenario_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_simulate, "have_matplotlib", lambda: False)
    result = krt("-f", str(scenario_file), "--plots")
    assert result.exit_code == 2
    assert result.stderr == "error: --plots needs matplotlib: pip install 'kruntimes[sim]'\n"
    assert result.files == []  # type: ignore[attr-defined]


def test_a_bad_scenario_exits_2_with_the_key_path(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.yaml", {**SCENARIO, "pools": [{"runtime": "python", "replicas": -1}]}
    )
    result = krt("-f", str(path))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {path}: pools[0].replicas: must be a whole number >= 0, got -1\n"
    )
    assert result.stdout == ""


def test_every_line_of_a_multi_problem_message_is_an_error_line(tmp_path: Path) -> None:
    queue = {"metadata": {"name": "q"}, "spec": {"weight": -1, "nope": 1}}
    path = write(tmp_path / "bad.yaml", {**SCENARIO, "queues": [queue]})
    result = krt("-f", str(path))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) >= 2
    assert all(line.startswith(f"error: {path}: queues[0].spec.") for line in lines)


def test_a_missing_file_and_a_bad_horizon_are_usage_errors(tmp_path: Path) -> None:
    missing = krt("-f", str(tmp_path / "none.yaml"))
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr
    path = write(tmp_path / "s.yaml", SCENARIO)
    bad = krt("-f", str(path), "--horizon", "soon")
    assert bad.exit_code == 2
    assert "Invalid value for '--horizon': invalid duration 'soon'" in bad.stderr


def test_simulate_is_listed_in_krt_help() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert "simulate" in result.stdout
