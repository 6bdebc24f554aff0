"""`krt run`, `get`, `list`, `logs` and `cancel`: the Run commands, on `AsyncClient`."""

from __future__ import annotations

import json
from contextlib import aclosing
from typing import IO

import click

from kruntimes.cli._common import PHASE_EXIT, Exit, Failure, Target, target_options, with_client
from kruntimes.cli._output import outcome, output_option, print_runs
from kruntimes.cli._queues import RUN_QUEUE_TYPES, show_run_queues
from kruntimes.client import AsyncClient, run_spec
from kruntimes.codec import parse_duration
from kruntimes.model import Phase, Run


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """A Go duration ("30s", "1m30s", "500ms") as seconds."""
    try:
        return None if value is None else parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _pairs(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", ctx, param)
        pairs[key] = val
    return pairs


async def _print_logs(client: AsyncClient, name: str, *, follow: bool) -> None:
    """Copy the Run's output to ours: its stdout to stdout, its stderr to stderr."""
    async with aclosing(client.logs(name, follow=follow)) as entries:
        async for entry in entries:
            click.echo(entry.raw, nl=False, err=entry.stream == "stderr")


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("-r", "--runtime", required=True, help="The Runtime (pool) to run on.")
@click.option("--name", help="Name of the Run [default: run-<8 hex>].")
@click.option("-w", "--wait", is_flag=True, help="Wait for the end; exit with the Run's result.")
@click.option(
    "--timeout", metavar="DURATION", callback=_duration, help="Stop the Run after this long (30s)."
)
@click.option(
    "-e", "--env", multiple=True, metavar="KEY=VALUE", callback=_pairs, help="Environment variable."
)
@click.option("--retry-attempts", type=click.IntRange(1, 100), help="Attempts in all.")
@click.option(
    "--retry-backoff", metavar="DURATION", callback=_duration, help="Delay before attempt 2."
)
@click.option(
    "-f", "--file", "source", type=click.File("r"), help="Inline source to run ('-': stdin)."
)
@click.option("--entrypoint", default="", help="File to run, relative to the work dir.")
@click.option("--handler", metavar="MODULE:FUNCTION", help="Call a function (python).")
@click.option("--input", "input_json", metavar="JSON", help="JSON input of the handler.")
@click.option("--logs/--no-logs", default=True, help="With --wait: print the Run's output.")
@output_option
@target_options
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(
    *,
    target: Target,
    runtime: str,
    name: str | None,
    wait: bool,
    timeout: float | None,
    env: dict[str, str],
    retry_attempts: int | None,
    retry_backoff: float | None,
    source: IO[str] | None,
    entrypoint: str,
    handler: str | None,
    input_json: str | None,
    logs: bool,
    output: str,
    args: tuple[str, ...],
) -> None:
    """Submit a Run: `krt run -r bash --wait -- echo hello`.

    Without --wait it prints the Run's name. With --wait it prints the Run's
    output as it comes (not on a cluster, where it stays in the Pod) and exits
    0 (Succeeded), 1 (Failed), 124 (Timeout) or 130 (Cancelled).
    """
    if not (args or source or entrypoint or handler):
        raise click.UsageError("nothing to run: give -- ARGS, -f FILE, --entrypoint or --handler")
    try:
        given = {} if input_json is None else {"input": json.loads(input_json)}
        spec = run_spec(
            runtime,
            args,
            source=source.read() if source is not None else None,
            entrypoint=entrypoint,
            handler=handler,
            env=env,
            timeout=timeout,
            retry_attempts=retry_attempts,
            retry_backoff=retry_backoff,
            **given,
        )
    except ValueError as exc:  # json.JSONDecodeError included
        raise click.UsageError(
            f"--input: {exc}" if isinstance(exc, json.JSONDecodeError) else str(exc)
        ) from None
    submitted: list[str] = []

    async def go(client: AsyncClient) -> Run:
        created = await client.submit(spec, name)
        submitted.append(created.metadata.name)
        if not wait:
            return created
        if logs and output == "table" and not client.kubernetes:  # a cluster's stay in the Pod
            await _print_logs(client, created.metadata.name, follow=True)
        return await client.wait(created.metadata.name)

    try:
        final = with_client(target, go)
    except KeyboardInterrupt:
        if not submitted:
            raise
        left = submitted[0]
        message = f"interrupted; {left} goes on (stop it with: krt cancel {left})"
        raise Failure(message, Exit.CANCELLED) from None
    if output != "table":
        print_runs([final], output, single=True)
    elif not wait:
        click.echo(final.metadata.name)
    else:
        click.echo(outcome(final), err=True)
    if wait:
        raise click.exceptions.Exit(PHASE_EXIT[final.status.phase])


RUN_TYPES = ("runs", "run", "rn")


@click.command()
@click.argument("words", nargs=-1, required=True, metavar="[TYPE] NAME")
@click.option(
    "-A", "--all-namespaces", is_flag=True, help="With `runqueues`: those of every namespace."
)
@output_option
@target_options
def get(target: Target, words: tuple[str, ...], all_namespaces: bool, output: str) -> None:
    """Show a Run, or RunQueues: `krt get NAME`, `krt get runqueues`.

    A Run shows its phase, why it waits or failed, times, outputs, conditions.
    `krt get runqueues` (or `runqueue`, `rq`) lists RunQueues, `krt get runqueue NAME`
    shows one; `krt get run NAME` is the Run NAME even if NAME is one of those words.
    """
    kind, name = _resource(words)
    if kind in RUN_QUEUE_TYPES:
        show_run_queues(target, name, all_namespaces, output)
        return
    if all_namespaces or name is None:
        raise click.UsageError("a Run is shown by NAME, in one namespace: krt get NAME")
    run_ = with_client(target, lambda client: client.get(name))
    print_runs([run_], output, single=True)


def _resource(words: tuple[str, ...]) -> tuple[str, str | None]:
    """(type, name) of `krt get`'s arguments: `NAME` alone is a Run, as it always was."""
    first = words[0].lower()
    if len(words) == 1:
        return (first, None) if first in RUN_QUEUE_TYPES else ("run", words[0])
    if len(words) == 2 and first in RUN_QUEUE_TYPES + RUN_TYPES:
        return first, words[1]
    raise click.UsageError(
        "krt get NAME (a Run), krt get run NAME, krt get runqueues, or krt get runqueue NAME"
    )


@click.command(name="list")
@click.option("--runtime", help="Only Runs of this Runtime.")
@click.option(
    "--phase",
    type=click.Choice([p.value for p in Phase], case_sensitive=False),
    help="Only Runs in this phase.",
)
@click.option("-A", "--all-namespaces", is_flag=True, help="Runs of every namespace.")
@output_option
@target_options
def list_runs(
    target: Target, runtime: str | None, phase: str | None, all_namespaces: bool, output: str
) -> None:
    """List Runs."""
    runs = with_client(
        target,
        lambda client: client.list(runtime=runtime, phase=phase, all_namespaces=all_namespaces),
    )
    print_runs(runs, output, namespaces=all_namespaces)


@click.command()
@click.argument("name")
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the Run ends.")
@target_options
def logs(target: Target, name: str, follow: bool) -> None:
    """Print a Run's output (stdout to stdout, stderr to stderr).

    Not with --kubeconfig/--context: on a cluster the output stays in the Run's
    Pod; the error says the kubectl command that reads it (exit 69).
    """
    with_client(target, lambda client: _print_logs(client, name, follow=follow))


@click.command()
@click.argument("names", nargs=-1, required=True)
@target_options
def cancel(target: Target, names: tuple[str, ...]) -> None:
    """Cancel Runs; cancelling a finished or already cancelled Run changes nothing."""

    async def go(client: AsyncClient) -> list[Run]:
        return [await client.cancel(name) for name in names]

    for run_ in with_client(target, go):
        phase = run_.status.phase
        state = f"already {phase.value}" if phase.is_terminal else "cancel requested"
        click.echo(f"run/{run_.metadata.name} {state}")
