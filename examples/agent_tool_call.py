"""Agent tool calls as Runs: each call an LLM asks for runs on a warm python worker.

An agent framework gets tool calls as JSON (a function name and arguments).
Here every call becomes a function Run: the tool's source travels inline,
the arguments as the Run's JSON `input`, and the tool's return value comes
back as the output `result`. The calls of one turn run concurrently, each
isolated in its own Run with its own timeout, and a tool that raises fails
only its own call.

    krt up --detach && python examples/agent_tool_call.py
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable
from typing import Any

from kruntimes.client import Client, run_spec
from kruntimes.model import Phase, RunSpec


def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


def word_stats(text: str) -> dict[str, Any]:
    """Count the words of a text and find the longest."""
    words = text.split()
    return {"words": len(words), "longest": max(words, key=len) if words else ""}


def divide(a: float, b: float) -> float:
    """Divide a by b."""
    return a / b


TOOLS: dict[str, Callable[..., Any]] = {f.__name__: f for f in (add, word_stats, divide)}

ENTRY = """
import json, os

def kruntimes_tool_entry(arguments):
    result = {name}(**arguments)
    with open(os.environ["KRUNTIME_OUTPUTS"], "a") as f:
        f.write("result=" + json.dumps(result) + "\\n")
    return result
"""


def tool_run(name: str, arguments: dict[str, Any]) -> RunSpec:
    """The function Run of one tool call: the tool's source, an entry point, the arguments."""
    source = inspect.getsource(TOOLS[name]) + ENTRY.format(name=name)
    return run_spec(
        "python",
        source=source,
        handler="tool:kruntimes_tool_entry",
        input=arguments,
        timeout="10s",
    )


# What a model might ask for in one turn.
TOOL_CALLS = [
    {"id": "call_1", "name": "add", "arguments": {"a": 2, "b": 40}},
    {"id": "call_2", "name": "word_stats", "arguments": {"text": "warm pools make tools fast"}},
    {"id": "call_3", "name": "divide", "arguments": {"a": 1, "b": 0}},
]


def main() -> int:
    with Client.connect() as client:
        runs = client.submit_many([tool_run(c["name"], c["arguments"]) for c in TOOL_CALLS])
        finished = client.wait_all([r.metadata.name for r in runs], timeout=60)
    messages = []
    for call, run in zip(TOOL_CALLS, finished, strict=True):
        if run.status.phase is Phase.SUCCEEDED:
            content = json.loads(run.status.outputs["result"])
        else:
            content = {"error": run.status.message}
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": content})
    for message in messages:
        print(json.dumps(message))
    return 0


if __name__ == "__main__":
    sys.exit(main())
