"""A batch of 1,000 Runs on the warm python pool, with the trio client.

Each Run squares its number and reports the result as an output; the batch
is submitted concurrently over a few reused connections, then awaited
through one watch (no polling), with a progress bar for each half.

    krt up --detach && python examples/batch_1000.py [--count N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

import trio
from rich.console import Console
from rich.progress import Progress

from kruntimes.client import AsyncClient, run_spec
from kruntimes.model import Run, RunSpec

SNIPPET = """\
import os
n = {n}
with open(os.environ["KRUNTIME_OUTPUTS"], "a") as f:
    f.write(f"square={{n * n}}\\n")
"""


def specs(count: int) -> list[RunSpec]:
    return [run_spec("python", source=SNIPPET.format(n=n)) for n in range(count)]


async def main(count: int) -> int:
    console = Console(stderr=True)
    async with AsyncClient.connect() as client:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("submitting", total=count)
            started = time.perf_counter()
            runs = await client.submit_many(
                specs(count), on_progress=lambda done, _: progress.update(task, completed=done)
            )
            submitted = time.perf_counter()
            task = progress.add_task("running", total=count)

            def finished(_run: Run) -> None:
                progress.advance(task)

            done = await client.wait_all([r.metadata.name for r in runs], on_done=finished)
            ended = time.perf_counter()
    phases = Counter(run.status.phase.value for run in done)
    total = sum(int(run.status.outputs.get("square", 0)) for run in done)
    expected = sum(n * n for n in range(count))
    print(f"{count} Runs: {dict(phases)}")
    print(f"submitted in {submitted - started:.2f}s, all finished {ended - started:.2f}s after")
    print(f"throughput {count / (ended - started):.0f} Runs/s")
    print(f"sum of squares {total} ({'correct' if total == expected else f'expected {expected}'})")
    return 0 if phases == Counter({"Succeeded": count}) and total == expected else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    sys.exit(trio.run(main, parser.parse_args().count))
