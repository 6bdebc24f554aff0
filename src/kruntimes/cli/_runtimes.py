"""`krt runtime list|get` and `krt version`."""

from __future__ import annotations

import platform

import click

from kruntimes import __version__
from kruntimes.cli._common import Target, target_options, with_client
from kruntimes.cli._output import output_option, print_runtimes
from kruntimes.client import AsyncClient
from kruntimes.model import API_VERSION, Runtime, RuntimePod


@click.group()
def runtime() -> None:
    """Runtimes: the warm pools Runs run on."""


@runtime.command(name="list")
@output_option
@target_options
def list_runtimes(target: Target, output: str) -> None:
    """List Runtimes with their ready Pods."""

    async def go(client: AsyncClient) -> tuple[list[Runtime], list[RuntimePod]]:
        return await client.runtimes(), await client.pods()

    runtimes, pods = with_client(target, go)
    print_runtimes(runtimes, pods, output)


@runtime.command(name="get")
@click.argument("name")
@output_option
@target_options
def get_runtime(target: Target, name: str, output: str) -> None:
    """Show one Runtime."""

    async def go(client: AsyncClient) -> tuple[Runtime, list[RuntimePod]]:
        return await client.get_runtime(name), await client.pods(name)

    found, pods = with_client(target, go)
    print_runtimes([found], pods, output, single=True)


@click.command()
def version() -> None:
    """Print the versions of krt, its API and Python."""
    click.echo(f"krt {__version__} ({API_VERSION}, Python {platform.python_version()})")
