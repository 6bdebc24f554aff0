"""`krt apply -f`: the Run, Runtime and RunQueue manifests that work on a cluster, applied to
the engine.

Every document of every file is decoded and checked first; if any is
invalid, each problem is reported as `document N: <field path>: <rule>` and
nothing is applied. A batch shows a progress bar on stderr and is sent
concurrently over a few reused connections.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import click
import yaml
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kruntimes.cli._common import Exit, Failure, Target, explain, target_options, with_client
from kruntimes.cli._output import console
from kruntimes.client import Applied, AsyncClient, BatchError
from kruntimes.codec import Decoded, ValidationError, decode_run, decode_run_queue, decode_runtime
from kruntimes.model import RUN_KIND, RUN_QUEUE_KIND, RUNTIME_KIND, Run, RunQueue, Runtime

BATCH = 20
"""From this many objects on, show a progress bar and a summary instead of one line each."""


def _sources(paths: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(label, text) of each file: `-` is stdin, a directory gives its YAML and JSON files."""
    for given in paths:
        if given == "-":
            yield "stdin", sys.stdin.read()
            continue
        path = Path(given)
        files = (
            sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
            if path.is_dir()
            else [path]
        )
        for file in files:
            try:
                yield str(file), file.read_text()
            except OSError as exc:
                raise click.BadParameter(f"{file}: {exc.strerror}", param_hint="-f") from None


def _documents(text: str) -> tuple[list[tuple[int, Any]], tuple[int, str] | None]:
    """The non-empty documents with their 1-based index, and where the YAML broke, if it did."""
    found: list[tuple[int, Any]] = []
    loader = yaml.safe_load_all(text)
    index = 0
    while True:
        index += 1
        try:
            doc = next(loader)
        except StopIteration:
            return found, None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            return found, (index, f"invalid YAML{where}: {problem}")
        if doc is not None:
            found.append((index, doc))


Applicable = Run | Runtime | RunQueue
_DECODERS: Mapping[str, Callable[[Mapping[str, Any]], Decoded[Any]]] = {
    RUN_KIND: decode_run,
    RUNTIME_KIND: decode_runtime,
    RUN_QUEUE_KIND: decode_run_queue,
}


def _decode(doc: Any, namespace: str) -> tuple[Applicable, list[str]]:
    """The object of one document (metadata.namespace defaults to `namespace`) and warnings."""
    if not isinstance(doc, Mapping):
        raise ValueError("must be a mapping: a Run, a Runtime or a RunQueue")
    kind = doc.get("kind")
    decode = _DECODERS.get(kind) if isinstance(kind, str) else None
    if decode is None:
        raise ValueError(
            f"kind: must be {RUN_KIND}, {RUNTIME_KIND} or {RUN_QUEUE_KIND}, got {kind!r}"
        )
    metadata = doc.get("metadata")
    if isinstance(metadata, Mapping) and "namespace" not in metadata:
        doc = {**doc, "metadata": {**metadata, "namespace": namespace}}
    decoded = decode(doc)
    return decoded.value, [str(w) for w in decoded.warnings]


def load(paths: tuple[str, ...], namespace: str) -> list[Applicable]:
    """Every object in `paths`, or a `Failure` listing every problem of every document."""
    sources = list(_sources(paths))
    objects: list[Applicable] = []
    problems: list[str] = []
    for label, text in sources:
        prefix = f"{label}: " if len(sources) > 1 else ""
        documents, broken = _documents(text)
        for index, doc in documents:
            where = f"{prefix}document {index}"
            try:
                obj, warnings = _decode(doc, namespace)
            except ValidationError as exc:
                problems += [f"{where}: {e}" for e in exc.errors]
                continue
            except ValueError as exc:
                problems.append(f"{where}: {exc}")
                continue
            for warning in warnings:
                click.echo(f"warning: {where}: {warning}", err=True)
            objects.append(obj)
        if broken is not None:
            problems.append(f"{prefix}document {broken[0]}: {broken[1]}")
    if problems:
        raise Failure("\n".join(problems), Exit.INVALID)
    return objects


def _label(obj: Applicable) -> str:
    """`run/NAME`, `runtime/NAME` or `runqueue/NAME`, as kubectl names objects."""
    return f"{type(obj).__name__.lower()}/{obj.metadata.name}"


@click.command()
@click.option(
    "-f",
    "--filename",
    "paths",
    multiple=True,
    required=True,
    help="A manifest file, a directory of them, or - for stdin. Repeatable.",
)
@target_options
def apply(target: Target, paths: tuple[str, ...]) -> None:
    """Create or update Runs, Runtimes and RunQueues from manifests.

    YAML or JSON; a file may hold many documents, of any of these kinds.
    """
    objects = load(paths, target.namespace)
    if not objects:
        raise Failure("no objects to apply", Exit.INVALID)
    batch = len(objects) >= BATCH
    err = console(stderr=True)
    progress = Progress(
        TextColumn("applying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not (batch and err.is_terminal),
    )
    task = progress.add_task("apply", total=len(objects))

    async def go(client: AsyncClient) -> tuple[list[Applied], list[tuple[int, Exception]]]:
        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done)

        try:
            return await client.apply(objects, on_progress=advance), []
        except BatchError as exc:
            return exc.done, exc.errors

    with progress:
        applied, errors = with_client(target, go)
    if batch:
        counts = Counter(f"{a.kind} {a.action.value}" for a in applied)
        for what, count in sorted(counts.items()):
            kind, action = what.split()
            click.echo(f"{count} {kind}{'s' if count != 1 else ''} {action}")
    else:
        for a in applied:
            click.echo(f"{_label(a.object)} {a.action.value}")
    if errors:
        lines, codes = [], []
        for index, error in errors:
            found = explain(error, target)
            if found is None:
                raise error
            lines += [f"{_label(objects[index])}: {line}" for line in found[0]]
            codes.append(found[1])
        raise Failure("\n".join(lines), codes[0])
