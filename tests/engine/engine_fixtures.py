"""An in-process embedded engine on a temporary state dir, for engine tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from kruntimes.engine.embedded import EmbeddedEngine, EngineConfig
from kruntimes.logs_config import configure_logging
from kruntimes.model import ObjectMeta, Runtime, RuntimeSpec

configure_logging("WARNING", cache=False)


def pools(replicas: int, capacity: int, *names: str) -> tuple[Runtime, ...]:
    return tuple(
        Runtime(ObjectMeta(name=n), RuntimeSpec(replicas=replicas, capacity={"runs": capacity}))
        for n in names or ("bash", "python")
    )


@asynccontextmanager
async def running_engine(
    state_dir: Path, runtimes: tuple[Runtime, ...], **config: object
) -> AsyncIterator[EmbeddedEngine]:
    engine = EmbeddedEngine(
        EngineConfig(
            state_dir=state_dir,
            runtimes=runtimes,
            serve=False,
            load_entry_points=False,
            work_root=state_dir / "work",
            **config,  # type: ignore[arg-type]
        )
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        with trio.fail_after(60):
            await engine.wait_until_ready()
        yield engine
        nursery.cancel_scope.cancel()
