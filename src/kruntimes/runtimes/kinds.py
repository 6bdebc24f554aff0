"""The built-in runtime kinds, registered like any plugin's (`kruntimes_register_runtimes`).

Commands use the placeholders the engine fills in when it starts a local
Runtime Pod: `{socket}`, `{capacity}` (the Pod's `runs` capacity) and
`{preload}` (python only; the engine drops `--preload {preload}` when no
module is to be preloaded). The servers run on the interpreter that
registered them, so they see the same installed packages as the engine.
"""

from __future__ import annotations

import sys
from typing import Any

from kruntimes.hookspecs import hookimpl
from kruntimes.registry import RuntimeKind, RuntimeRegistry


def _server_command(module: str, *extra: str) -> Any:
    """Typed `Any` because mypy cannot solve `RuntimeKind.command`'s generic `tuple` converter."""
    common = ("--socket", "{socket}", "--capacity", "{capacity}")
    return (sys.executable, "-m", module, *common, *extra)


BASH = RuntimeKind(
    name="bash",
    command=_server_command("kruntimes.runtimes.bash_server"),
    description="bash scripts and commands; one process group per Run",
)

PYTHON = RuntimeKind(
    name="python",
    command=_server_command("kruntimes.runtimes.python_server", "--preload", "{preload}"),
    description="python snippets, scripts and module:function handlers on warm pre-forked workers",
)


@hookimpl
def kruntimes_register_runtimes(registry: RuntimeRegistry) -> None:
    registry.add(BASH)
    registry.add(PYTHON)
