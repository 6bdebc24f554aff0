"""Helpers shared by the `krt` tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import trio
from click.testing import Result

from kruntimes.client import AsyncClient
from kruntimes.model import ConditionType

RUN = """\
apiVersion: kruntimes.io/v1alpha1
kind: Run
metadata:
  name: {name}
spec:
  runtime: bash
  mode:
    task:
      args: [echo, {name}]
"""
"""A minimal bash Run manifest; `.format(name=...)`."""

RUN_QUEUE = """\
apiVersion: kruntimes.io/v1alpha1
kind: RunQueue
metadata:
  name: {name}
spec:
  quota: {{runs: "{runs}"}}
  weight: {weight}
  cohort: research
"""
"""A RunQueue manifest; `.format(name=..., runs=..., weight=...)`."""

Krt = Callable[..., Result]
"""`krt("list", "-o", "json", input=None)`: one command against the test engine."""


def scheduling_reason(state_dir: Path, name: str) -> str:
    """The reason on the Run's `Scheduled` condition, waiting (by watch) until there is one."""

    async def main() -> str:
        async with AsyncClient.connect(state_dir) as client:
            store = client.store
            with trio.fail_after(20):
                rv = (await store.list_runtimes("default")).resource_version
                run = await client.get(name)
                async with store.watch_runs(rv, "default") as events:
                    while (cond := run.status.condition(ConditionType.SCHEDULED)) is None:
                        event = await anext(aiter(events))
                        if event.object is not None and event.object.metadata.name == name:
                            run = event.object
                return cond.reason

    return trio.run(main)
