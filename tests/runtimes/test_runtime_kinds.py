"""The built-in runtime kinds register through the hook like any plugin's."""

from __future__ import annotations

import pluggy

from kruntimes import hookspecs
from kruntimes.registry import RuntimeRegistry
from kruntimes.runtimes import kinds


def test_bash_and_python_register_through_the_hook() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(kinds, name="runtimes")
    registry = RuntimeRegistry()
    pm.hook.kruntimes_register_runtimes(registry=registry)
    assert [k.name for k in registry] == ["bash", "python"]
    for kind in registry:
        assert kind.protocol == "native"
        assert "{socket}" in kind.command
        assert "{capacity}" in kind.command
        assert kind.command[1:3] == ("-m", f"kruntimes.runtimes.{kind.name}_server")
    assert registry.get("python").command[-2:] == ("--preload", "{preload}")
