"""`krt`: the kruntimes command line (docs/cli.md), built on `kruntimes.client`.

Commands live in small modules by topic; this one assembles them and makes
sure nothing escapes as a traceback: user errors are `Failure`s (one line,
a documented exit code), Ctrl-C exits 130, and anything else is reported as
an internal error (exit 70) unless `KRT_DEBUG` is set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from kruntimes.cli._apply import apply
from kruntimes.cli._common import CONTEXT_ENV, KUBECONFIG_ENV, Cluster, Exit, Failure, failure
from kruntimes.cli._engine import down, up
from kruntimes.cli._queues import delete
from kruntimes.cli._runs import cancel, get, list_runs, logs, run
from kruntimes.cli._runtimes import runtime, version
from kruntimes.cli._simulate import simulate


class _Krt(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            shown = Failure("interrupted", Exit.CANCELLED)
        except Exception as exc:
            found = failure(exc)
            if isinstance(found, Failure):
                shown = found
            elif os.environ.get("KRT_DEBUG"):
                raise
            else:
                message = f"internal error: {type(exc).__name__}: {exc} (KRT_DEBUG=1 shows where)"
                shown = Failure(message, Exit.INTERNAL)
        shown.show()
        raise click.exceptions.Exit(shown.code)


@click.group(cls=_Krt, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar=KUBECONFIG_ENV,
    help=f"Talk to this Kubernetes cluster instead of the embedded engine [env {KUBECONFIG_ENV}; "
    "plain KUBECONFIG is not used for this].",
)
@click.option(
    "--context",
    metavar="NAME",
    envvar=CONTEXT_ENV,
    help=f"Talk to this kubeconfig context's cluster (of --kubeconfig, else $KUBECONFIG or "
    f"~/.kube/config) [env {CONTEXT_ENV}].",
)
@click.pass_context
def cli(ctx: click.Context, kubeconfig: Path | None, context: str | None) -> None:
    """Run short executions on pools of warm Runtime Pods.

    Start an engine with `krt up --detach`, then `krt run -r bash --wait -- echo hi`.
    With --kubeconfig or --context, the same commands work against a Kubernetes
    cluster that has kruntimes installed.
    """
    if kubeconfig is not None or context:
        ctx.obj = Cluster(kubeconfig, context or None)


for command in (up, down, apply, run, get, list_runs, logs, cancel, delete, runtime, version):
    cli.add_command(command)
cli.add_command(simulate)


def main() -> None:
    cli(prog_name="krt")
