"""kruntimes: run many short executions on pools of warm Runtime Pods.

The pieces: `kruntimes.model` (data), `kruntimes.codec` (wire format),
`kruntimes.core` (pure scheduling), `kruntimes.hookspecs` (extension points),
`kruntimes.testing` (the policy testing kit).
"""

from kruntimes.core import Plan, Scheduler, SchedulerConfig
from kruntimes.hookspecs import hookimpl, hookspec
from kruntimes.plugin_manager import PluginError, create_plugin_manager, new_scheduler

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """`kruntimes.Client` / `AsyncClient` on first use: `import kruntimes` stays light."""
    if name in ("Client", "AsyncClient"):
        from kruntimes import client

        return getattr(client, name)
    raise AttributeError(f"module 'kruntimes' has no attribute {name!r}")


__all__ = [
    "AsyncClient",
    "Client",
    "Plan",
    "PluginError",
    "Scheduler",
    "SchedulerConfig",
    "__version__",
    "create_plugin_manager",
    "hookimpl",
    "hookspec",
    "new_scheduler",
]
