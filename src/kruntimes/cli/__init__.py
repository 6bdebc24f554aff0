"""`krt`: the kruntimes command line (docs/cli.md), built on `kruntimes.client`.

Commands live in small modules by topic; this one assembles them and makes
sure nothing escapes as a traceback: user errors are `Failure`s (one line,
a documented exit code), Ctrl-C exits 130, and anything else is reported as
an internal error (exit 70) unless `KRT_DEBUG` is set.
"""

from __future__ import annotations

import os
from typing import Any

import click

from kruntimes.cli._apply import apply
from kruntimes.cli._common import Exit, Failure, failure
from kruntimes.cli._engine import down, up
from kruntimes.cli._runs import cancel, get, list_runs, logs, run
from kruntimes.cli._runtimes import runtime, version


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
def cli() -> None:
    """Run short executions on pools of warm Runtime Pods.

    Start an engine with `krt up --detach`, then `krt run -r bash --wait -- echo hi`.
    """


for command in (up, down, apply, run, get, list_runs, logs, cancel, runtime, version):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="krt")
