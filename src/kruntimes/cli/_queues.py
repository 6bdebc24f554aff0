"""`krt get runqueues` and `krt delete runqueue`: the RunQueues that admit Runs.

RunQueues are created and changed with `krt apply -f` (kind `RunQueue`), as
on a cluster; their status (pending, admitted, usage) is the scheduler's.
"""

from __future__ import annotations

import click

from kruntimes.cli._common import Target, target_options, with_client
from kruntimes.cli._output import print_run_queues
from kruntimes.client import AsyncClient
from kruntimes.model import RunQueue

RUN_QUEUE_TYPES = ("runqueues", "runqueue", "rq")
"""How `krt get` and `krt delete` name the kind, as `kubectl` does (plural, singular, short)."""


def show_run_queues(target: Target, name: str | None, all_namespaces: bool, output: str) -> None:
    """One RunQueue (`name`), or all of the namespace (or of every namespace)."""

    async def go(client: AsyncClient) -> list[RunQueue]:
        if name is not None:
            return [await client.get_run_queue(name)]
        return await client.list_run_queues(all_namespaces=all_namespaces)

    queues = with_client(target, go)
    print_run_queues(queues, output, single=name is not None, namespaces=all_namespaces)


@click.command()
@click.argument("kind", metavar="TYPE", type=click.Choice(RUN_QUEUE_TYPES, case_sensitive=False))
@click.argument("names", nargs=-1, required=True)
@target_options
def delete(target: Target, kind: str, names: tuple[str, ...]) -> None:
    """Delete RunQueues: `krt delete runqueue NAME...`.

    Their Runs stay and wait (reason NoQueue) until a RunQueue of that name exists again.
    """

    async def go(client: AsyncClient) -> None:
        for name in names:
            await client.delete_run_queue(name)
            click.echo(f"runqueue/{name} deleted")

    with_client(target, go)
