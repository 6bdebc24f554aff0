"""A custom runtime kind, "uppercase": a Runtime Server plus the plugin that registers it.

The server speaks kruntimes' native protocol by reusing `RuntimeServer`,
which keeps the bookkeeping the protocol promises (duplicate ids, cancel,
forget, timeouts, log events); a kind only says how to run one execution.
This one needs no process: it upper-cases the Run's inline source (or its
args), prints it, and reports its length as an output.

Register it with the engine either way:

    krt up --plugin kruntimes_uppercase          # the module must be importable
    pip install ./examples/custom_runtime        # entry point: found by every engine

then create a Runtime of this kind: `krt apply -f runtime.yaml`.
"""

from __future__ import annotations

import argparse
import sys

from kruntimes.hookspecs import hookimpl
from kruntimes.registry import RuntimeKind, RuntimeRegistry
from kruntimes.runtimes.server_base import Execution, RuntimeServer
from kruntimes.runtimes.server_cli import add_common_arguments, common, run_server

KIND = RuntimeKind(
    name="uppercase",
    command=(
        sys.executable,
        "-m",
        "kruntimes_uppercase",
        "--socket",
        "{socket}",
        "--capacity",
        "{capacity}",
    ),
    description="upper-cases its input; an example of a custom runtime kind",
)


@hookimpl
def kruntimes_register_runtimes(registry: RuntimeRegistry) -> None:
    registry.add(KIND)


class UppercaseServer(RuntimeServer):
    kind = "uppercase"

    def has_free_slot(self) -> bool:
        return True  # every execution finishes inside `start`

    def start(self, execution: Execution) -> None:
        request = execution.request
        text = request.source if request.source is not None else " ".join(request.args)
        shout = text.upper()
        self.output(execution, "stdout", (shout + "\n").encode())
        outputs = request.env.get("KRUNTIME_OUTPUTS")
        if outputs:
            with open(outputs, "a", encoding="utf-8") as f:
                f.write(f"length={len(shout)}\n")
        self.finish(execution, 0, "")

    def signal(self, execution: Execution, sig: int) -> None:
        """Nothing to signal: an execution never outlives `start`."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="kruntimes_uppercase", description=__doc__)
    add_common_arguments(parser, default_capacity=64)
    options = parser.parse_args(argv)
    run_server(options, lambda: UppercaseServer(options.socket, **common(options)))


if __name__ == "__main__":
    main()
