"""How `krt` shows Runs, Runtimes and RunQueues: tables for people, wire JSON or YAML for programs.

JSON and YAML are the `kruntimes.io/v1alpha1` wire objects from the codec
(lists as a Kubernetes `List`), so `krt get x -o yaml` can be applied again.
Tables are plain columns without borders; colours only on a terminal.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from kruntimes.codec import run_queue_to_dict, run_to_dict, runtime_to_dict
from kruntimes.engine.local_pods import KIND_LABEL
from kruntimes.model import (
    ConditionStatus,
    ConditionType,
    Phase,
    Run,
    RunQueue,
    Runtime,
    RuntimePod,
)

FORMATS = ("table", "json", "yaml")
PHASE_STYLE = {
    Phase.PENDING: "dim",
    Phase.SCHEDULED: "blue",
    Phase.RUNNING: "cyan",
    Phase.READY: "cyan",
    Phase.SUCCEEDED: "green",
    Phase.FAILED: "red",
    Phase.TIMEOUT: "yellow",
    Phase.CANCELLED: "magenta",
}

output_option = click.option(
    "-o",
    "--output",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table for people; json or yaml (wire format) for programs.",
)


def console(*, stderr: bool = False) -> Console:
    """A console on the current stdout/stderr; off a terminal it never wraps lines."""
    stream = sys.stderr if stderr else sys.stdout
    wide = None if stream.isatty() else 10_000
    return Console(file=stream, width=wide, markup=False, highlight=False, soft_wrap=True)


def show(renderable: Table) -> None:
    """Print a table without the padding rich leaves at the end of each line."""
    out = console()
    with out.capture() as captured:
        out.print(renderable)
    click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def age(obj: Run | Runtime | RunQueue, now: float | None = None) -> str:
    created = obj.metadata.creation_timestamp
    if created is None:
        return "-"
    seconds = max(0, int((now or time.time()) - created.timestamp()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def reason(run: Run) -> str:
    """Why a Run is where it is: its failure reason, or why a Pending Run waits."""
    status = run.status
    if status.phase.is_terminal and status.phase is not Phase.SUCCEEDED:
        cond = status.condition(ConditionType.COMPLETED)
        return cond.reason if cond is not None else ""
    if status.phase is Phase.PENDING:
        cond = status.condition(ConditionType.SCHEDULED)
        if cond is not None and cond.status == ConditionStatus.FALSE:
            return cond.reason
        retrying = status.condition(ConditionType.RUNNING)
        return retrying.reason if retrying is not None else ""
    return ""


def phase_text(phase: Phase) -> Text:
    return Text(phase.value, style=PHASE_STYLE.get(phase, ""))


def _table(*columns: str) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
    for column in columns:
        table.add_column(column, no_wrap=column in ("NAME", "NAMESPACE"))
    return table


def print_documents(documents: Sequence[dict[str, Any]], fmt: str, *, single: bool) -> None:
    """`documents` as one object (`single`) or as a List, in `fmt` (json or yaml)."""
    doc = documents[0] if single else {"apiVersion": "v1", "kind": "List", "items": documents}
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        click.echo(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), nl=False)


def print_runs(
    runs: Sequence[Run], fmt: str, *, single: bool = False, namespaces: bool = False
) -> None:
    if fmt != "table":
        print_documents([run_to_dict(r) for r in runs], fmt, single=single)
        return
    if single:
        describe_run(runs[0])
        return
    columns = ["NAMESPACE"] * namespaces + ["NAME", "RUNTIME", "PHASE", "REASON", "POD", "AGE"]
    table = _table(*columns)
    now = time.time()
    for run in runs:
        cells: list[str | Text] = [run.metadata.namespace] * namespaces
        cells += [
            run.metadata.name,
            run.spec.runtime,
            phase_text(run.status.phase),
            reason(run),
            run.status.assigned_pod or "",
            age(run, now),
        ]
        table.add_row(*cells)
    if runs:
        show(table)
    else:
        click.echo("No Runs found.", err=True)


def describe_run(run: Run) -> None:
    """Everything a person asks about one Run, one field a line."""
    s = run.status
    rows: list[tuple[str, str | Text]] = [
        ("Name", run.metadata.name),
        ("Namespace", run.metadata.namespace),
        ("Runtime", run.spec.runtime),
        ("Phase", phase_text(s.phase)),
        ("Reason", reason(run)),
        ("Message", s.message),
        ("Pod", s.assigned_pod or ""),
        ("Attempt", f"{s.attempt} of {run.spec.retry_policy.max_attempts}"),
        ("Created", _when(run.metadata.creation_timestamp)),
        ("Started", _when(s.start_time)),
        ("Completed", _when(s.completion_time)),
        ("Duration", _duration(run)),
        ("Cancel requested", "yes" if run.spec.cancel_requested else ""),
        ("Outputs", _pairs(s.outputs)),
        ("Artifacts", ", ".join(a.name for a in s.artifact_refs)),
        ("Array", _array(run)),
        ("Failed indexes", s.array.failed_indexes if s.array is not None else ""),
    ]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for label, value in rows:
        if value:
            grid.add_row(label + ":", value)
    if s.conditions:
        grid.add_row("Conditions:", "")
        for c in s.conditions:
            grid.add_row(
                "", " ".join(x for x in (c.type, c.status.value, c.reason, c.message) if x)
            )
    show(grid)


def print_runtimes(
    runtimes: Sequence[Runtime], pods: Iterable[RuntimePod], fmt: str, *, single: bool = False
) -> None:
    if fmt != "table":
        print_documents([runtime_to_dict(r) for r in runtimes], fmt, single=single)
        return
    ready: dict[str, int] = {}
    for pod in pods:
        if pod.heartbeat is not None:
            ready[pod.runtime] = ready.get(pod.runtime, 0) + 1
    table = _table("NAME", "KIND", "REPLICAS", "READY", "CAPACITY", "AGE")
    now = time.time()
    for rt in runtimes:
        name = rt.metadata.name
        table.add_row(
            name,
            rt.metadata.labels.get(KIND_LABEL, name),
            str(rt.spec.replicas),
            str(ready.get(name, 0)),
            _pairs(rt.spec.capacity) or "default",
            age(rt, now),
        )
    if runtimes:
        show(table)
    else:
        click.echo("No Runtimes found.", err=True)


def print_run_queues(
    queues: Sequence[RunQueue], fmt: str, *, single: bool = False, namespaces: bool = False
) -> None:
    """RunQueues with their share, quota and what the scheduler last wrote in their status."""
    if fmt != "table":
        print_documents([run_queue_to_dict(q) for q in queues], fmt, single=single)
        return
    columns = ["NAMESPACE"] * namespaces + ["NAME", "WEIGHT", "COHORT", "QUOTA"]
    table = _table(*columns, "PENDING", "ADMITTED")
    for queue in queues:
        spec, status = queue.spec, queue.status
        cells = [queue.metadata.namespace] * namespaces
        cells += [queue.metadata.name, f"{spec.weight:g}", spec.cohort or "", _quota(queue)]
        table.add_row(*cells, str(status.pending), str(status.admitted))
    if queues:
        show(table)
    else:
        click.echo("No RunQueues found.", err=True)


def _quota(queue: RunQueue) -> str:
    """`gpu=6/8, runs=40/100`: what is held of each limited resource, or `unlimited`."""
    usage = queue.status.usage
    quota = ", ".join(
        f"{name}={usage.get(name, 0)}/{limit}" for name, limit in sorted(queue.spec.quota.items())
    )
    return quota or "unlimited"


def outcome(run: Run) -> str:
    """`name Phase [(message)]`, the line `krt run --wait` ends with."""
    line = f"{run.metadata.name} {run.status.phase.value}"
    if run.status.phase is not Phase.SUCCEEDED and run.status.message:
        line += f" ({run.status.message})"
    return line


def _array(run: Run) -> str:
    """An array Run's progress: `12 of 100 succeeded, 2 failed, 5 running`."""
    spec, progress = run.spec.array, run.status.array
    if spec is None:
        return ""
    if progress is None:
        return f"0 of {spec.completions} succeeded"
    return (
        f"{progress.succeeded} of {spec.completions} succeeded, {progress.failed} failed, "
        f"{progress.active} running"
    )


def _pairs(mapping: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(mapping.items()))


def _when(moment: Any) -> str:
    return moment.isoformat(timespec="milliseconds") if moment is not None else ""


def _duration(run: Run) -> str:
    start, end = run.status.start_time, run.status.completion_time
    if start is None or end is None:
        return ""
    return f"{(end - start).total_seconds() * 1000:.1f} ms"
