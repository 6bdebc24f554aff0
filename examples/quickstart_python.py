"""Quickstart from Python: run bash and python on the warm pools of a running engine.

Start an engine first (`krt up --detach`), then:

    python examples/quickstart_python.py

`Client.connect()` finds the engine through `$KRUNTIMES_STATE_DIR` (or the
default state directory); `Client.embedded()` would start one in this process.
"""

from __future__ import annotations

import sys

from kruntimes.client import Client, run_spec
from kruntimes.store import Unavailable


def main() -> int:
    with Client.connect() as client:
        try:
            runtimes = [rt.metadata.name for rt in client.runtimes()]
        except Unavailable:
            print("no engine is running; start one with: krt up --detach", file=sys.stderr)
            return 69
        print("runtimes:", ", ".join(runtimes))

        # A bash command: submit, wait for the end, read its output from the log store.
        run = client.run(run_spec("bash", ["echo", "hello from a warm bash pod"]))
        output = "".join(entry.data for entry in client.logs(run.metadata.name))
        print(f"{run.metadata.name}: {run.status.phase.value}: {output.strip()}")

        # A python snippet; it reports a value through the outputs file.
        snippet = (
            "import os, platform\n"
            "with open(os.environ['KRUNTIME_OUTPUTS'], 'a') as f:\n"
            "    f.write(f'python={platform.python_version()}\\n')\n"
        )
        run = client.run(run_spec("python", source=snippet))
        print(f"{run.metadata.name}: {run.status.phase.value}: outputs {dict(run.status.outputs)}")

        # A failing command ends Failed, with the reason in its status.
        run = client.run(run_spec("bash", ["false"]))
        print(f"{run.metadata.name}: {run.status.phase.value}: {run.status.message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
