"""Run an embedded engine in this process until killed: `python engine_process.py STATE_DIR`."""

import signal
import sys
from pathlib import Path

import trio

from kruntimes.engine.embedded import EmbeddedEngine, EngineConfig
from kruntimes.logs_config import configure_logging
from kruntimes.model import ObjectMeta, Runtime, RuntimeSpec


async def main(state_dir: Path) -> None:
    runtime = Runtime(ObjectMeta(name="bash"), RuntimeSpec(replicas=2, capacity={"runs": 4}))
    config = EngineConfig(
        state_dir=state_dir,
        runtimes=(runtime,),
        load_entry_points=False,
        work_root=state_dir / "work",
    )
    with trio.open_signal_receiver(signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(EmbeddedEngine(config).run)
            print("started", flush=True)
            async for _ in signals:  # SIGTERM: stop cleanly, servers included
                nursery.cancel_scope.cancel()
                break


if __name__ == "__main__":
    configure_logging("WARNING")
    trio.run(main, Path(sys.argv[1]))
