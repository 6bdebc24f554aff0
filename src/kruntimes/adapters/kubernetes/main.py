"""Command lines of the controller and the Pod agent (what the reference images run).

    python -m kruntimes.adapters.kubernetes.main controller --leader-elect ...
    python -m kruntimes.adapters.kubernetes.main agent

`reference_deployment/entrypoints/{controller,agent}.py` call these, so the
images and the end-to-end tests start exactly the same code. Both exit 0 on
SIGTERM (kubelet stopping the Pod), 1 when leadership is lost (the Pod
restarts and stands by), 69 when the apiserver or the Runtime Server cannot
be reached at start.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import click
import structlog
import trio

from kruntimes.logs_config import configure_logging

log = structlog.get_logger("kruntimes.main")

EXIT_LOST_LEADERSHIP = 1
EXIT_UNAVAILABLE = 69


async def _until_terminated(body: Callable[[], Awaitable[Any]]) -> None:
    """Run `body` until it returns or SIGTERM/SIGINT arrives (then cancel it cleanly)."""
    async with trio.open_nursery() as nursery:

        async def watch_signals() -> None:
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    log.info("stopping", signal=signal.Signals(signum).name)
                    nursery.cancel_scope.cancel()

        async def main() -> None:
            await body()
            nursery.cancel_scope.cancel()

        nursery.start_soon(watch_signals)
        nursery.start_soon(main)


@click.group()
def cli() -> None:
    """kruntimes on Kubernetes: the controller and the Runtime Pod agent."""


def _logging(log_format: str, level: str) -> None:
    configure_logging(level.upper(), json=log_format == "json")


@cli.command()
@click.option("--kubeconfig", envvar="KUBECONFIG", help="Default: in-cluster, else ~/.kube/config.")
@click.option("--context", help="kubeconfig context.")
@click.option(
    "--namespace", "namespaces", multiple=True, help="Watch only these (repeat); default: all."
)
@click.option("--leader-elect/--no-leader-elect", default=False, show_default=True)
@click.option("--leader-election-namespace", envvar="POD_NAMESPACE", default="default")
@click.option("--lease-name", default="kruntimes-controller", show_default=True)
@click.option("--metrics-bind-address", default=":8080", show_default=True)
@click.option("--health-probe-bind-address", default=":8081", show_default=True)
@click.option("--agent-image", default=None, help="Agent sidecar image for Runtime Pods.")
@click.option("--log-format", type=click.Choice(["json", "console"]), default="json")
@click.option("--log-level", default="info", show_default=True)
def controller(**flags: Any) -> None:
    """Scheduler, Runtime controller and finished-Run GC, with leader election."""
    from kruntimes.adapters.kubernetes.api import KubeApi
    from kruntimes.adapters.kubernetes.controller import Controller, ControllerOptions
    from kruntimes.adapters.kubernetes.leader import LostLeadership
    from kruntimes.adapters.kubernetes.runtime_objects import AgentSettings
    from kruntimes.store.port import StoreError

    _logging(flags["log_format"], flags["log_level"])
    agent = (
        AgentSettings() if not flags["agent_image"] else AgentSettings(image=flags["agent_image"])
    )
    options = ControllerOptions(
        namespaces=tuple(flags["namespaces"]),
        leader_elect=flags["leader_elect"],
        leader_election_namespace=flags["leader_election_namespace"],
        lease_name=flags["lease_name"],
        metrics_bind_address=flags["metrics_bind_address"],
        health_probe_bind_address=flags["health_probe_bind_address"],
        agent=agent,
    )
    api = KubeApi.connect(flags["kubeconfig"], context=flags["context"])
    try:
        trio.run(_until_terminated, Controller(api, options).run)
    except LostLeadership as exc:
        log.error("lost leadership; exiting so a fresh process stands by", why=str(exc))
        sys.exit(EXIT_LOST_LEADERSHIP)
    except StoreError as exc:
        log.error("cannot reach the apiserver", error=str(exc))
        sys.exit(EXIT_UNAVAILABLE)


@cli.command()
@click.option("--kubeconfig", envvar="KUBECONFIG", help="Default: in-cluster.")
@click.option("--health-probe-bind-address", default=":8081", show_default=True)
@click.option("--metrics-bind-address", default=":9090", show_default=True)
@click.option("--log-format", type=click.Choice(["json", "console"]), default="json")
@click.option("--log-level", default="info", show_default=True)
def agent(**flags: Any) -> None:
    """The agent sidecar of a Runtime Pod (configured by the environment the controller sets)."""
    from kruntimes.adapters.kubernetes.api import KubeApi
    from kruntimes.adapters.kubernetes.pod_agent import PodAgent, PodAgentConfig, PodAgentError
    from kruntimes.adapters.kubernetes.probes import ProbeServer, parse_bind_address
    from kruntimes.store.port import StoreError

    _logging(flags["log_format"], flags["log_level"])
    try:
        config = PodAgentConfig.from_env()
    except PodAgentError as exc:
        raise click.UsageError(str(exc)) from None
    api = KubeApi.connect(flags["kubeconfig"])
    pod_agent = PodAgent(api, config)
    probes = [
        ProbeServer(*parse_bind_address(address), ready=lambda: pod_agent.ready)
        for address in (flags["health_probe_bind_address"], flags["metrics_bind_address"])
        if address
    ]

    async def body() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(pod_agent.run)

    try:
        trio.run(_until_terminated, body)
    except (StoreError, PodAgentError) as exc:
        log.error("agent cannot start", error=str(exc))
        sys.exit(EXIT_UNAVAILABLE)
    finally:
        for probe in probes:
            probe.close()


@cli.command("install-crds")
@click.option("--kubeconfig", envvar="KUBECONFIG", help="Default: in-cluster, else ~/.kube/config.")
@click.option("--context", help="kubeconfig context.")
def install_crds_command(kubeconfig: str | None, context: str | None) -> None:
    """Create or upgrade the Run, Runtime and RunQueue CRDs (CEL rules on 1.25+ only)."""
    from kruntimes.adapters.kubernetes.api import KubeApi
    from kruntimes.adapters.kubernetes.install import install_crds
    from kruntimes.store.port import StoreError

    api = KubeApi.connect(kubeconfig, context=context, give_up_after=10.0)
    try:
        names = trio.run(install_crds, api)
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_UNAVAILABLE)
    for name in names:
        click.echo(f"customresourcedefinition {name} established")


def main() -> None:
    cli(prog_name=os.path.basename(sys.argv[0]) or "kruntimes")


if __name__ == "__main__":
    main()
