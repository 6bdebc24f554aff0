"""`krt simulate -f scenario.yaml`: what-if studies of warm pools in virtual time.

Runs `kruntimes.sim` on a scenario file (docs/simulator.md): each policy, the
one-Pod-per-Run baseline and the pool-size recommendation, then prints their tables
and writes `result.json` and PNG plots into the output directory. It needs no
engine and no cluster: the scheduling core runs in process, in virtual time.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import click
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from kruntimes.cli._common import Exit, Failure
from kruntimes.cli._output import console, show
from kruntimes.sim.distributions import parse_seconds
from kruntimes.sim.recommend import recommendation_table
from kruntimes.sim.report import compare_table, summary_table
from kruntimes.sim.runner import ScenarioOutcome, run_scenario
from kruntimes.sim.scenario import Scenario, ScenarioError, load_scenario

RESULT_FILE = "result.json"
PLOTS_EXTRA = "pip install 'kruntimes[sim]'"


def have_matplotlib() -> bool:
    """Whether plots can be drawn (the `sim` extra is installed)."""
    return importlib.util.find_spec("matplotlib") is not None


def _horizon(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = parse_seconds(value, what="--horizon")
    except ValueError as exc:
        raise click.BadParameter(str(exc).removeprefix("--horizon: "), ctx, param) from None
    if seconds <= 0:
        raise click.BadParameter("must be greater than 0", ctx, param)
    return seconds


def default_out_dir(scenario: Scenario) -> Path:
    """`./simulation-<name>/`, the name made safe for a directory."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", scenario.name).strip("-.") or "scenario"
    return Path(f"simulation-{slug}")


@click.command()
@click.option(
    "-f",
    "--filename",
    "path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The scenario file (YAML).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for result.json and the plots [default: ./simulation-<name>/].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead.")
@click.option(
    "--plots/--no-plots",
    default=None,
    help="Draw PNG plots (needs matplotlib) [default: if matplotlib is installed].",
)
@click.option("--seed", type=int, help="Override the scenario's seed.")
@click.option(
    "--horizon",
    metavar="DURATION",
    callback=_horizon,
    help="Override the scenario's horizon (5m, 90s): arrivals before it are simulated.",
)
def simulate(
    *,
    path: Path,
    out_dir: Path | None,
    as_json: bool,
    plots: bool | None,
    seed: int | None,
    horizon: float | None,
) -> None:
    """Simulate a scenario: policies, the one-Pod-per-Run baseline, a pool size.

    Needs no engine: the scheduling core runs here, in virtual time. Prints the
    summary tables (with --json, one JSON document instead) and writes result.json
    and PNG plots into --out. With --json, files are written only if --out or
    --plots is given.
    """
    try:
        scenario = load_scenario(path).with_overrides(seed=seed, horizon=horizon)
    except ScenarioError as exc:
        raise Failure(str(exc), Exit.USAGE) from None
    if plots and not have_matplotlib():
        raise Failure(f"--plots needs matplotlib: {PLOTS_EXTRA}", Exit.USAGE)
    write = not as_json or out_dir is not None or bool(plots)
    out = out_dir if out_dir is not None else default_out_dir(scenario)

    outcome = _run(scenario)

    if as_json:
        click.echo(outcome.dumps())
    else:
        _show(outcome)
    if not write:
        return
    out.mkdir(parents=True, exist_ok=True)
    written = [out / RESULT_FILE]
    written[0].write_text(outcome.dumps() + "\n", encoding="utf-8")
    if plots is None and not have_matplotlib():
        click.echo(f"note: no plots: matplotlib is not installed ({PLOTS_EXTRA})", err=True)
    elif plots is not False:
        from kruntimes.sim.plots import write_all

        written += write_all(outcome.all_results(), out)
    for file in written:
        click.echo(f"wrote {file}", err=as_json)


def _run(scenario: Scenario) -> ScenarioOutcome:
    """Run the scenario with a transient progress bar on stderr (on a terminal only)."""
    err = console(stderr=True)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    tasks: dict[str, TaskID] = {}

    def tick(label: str, fraction: float) -> None:
        step = label.split(":", 1)[0]
        if step not in tasks:
            tasks[step] = progress.add_task(label, total=1.0)
        progress.update(tasks[step], completed=fraction, description=label)

    try:
        with progress:
            return run_scenario(scenario, progress=tick)
    except ScenarioError as exc:  # e.g. a bad row of a trace, found as it is replayed
        raise Failure(str(exc), Exit.USAGE) from None


def _show(outcome: ScenarioOutcome) -> None:
    results = outcome.results
    if len(results) == 1:
        (result,) = results.values()
        show(summary_table(result, baseline=outcome.baseline))
    else:
        show(compare_table(outcome.all_results()))
    if outcome.recommendation is not None:
        click.echo()
        show(recommendation_table(outcome.recommendation))
        for note in outcome.recommendation.notes:
            click.echo(f"note: {note}")
