"""`kruntimes.client`: submit Runs, wait for them, follow their logs, cancel and list them.

`AsyncClient` is the trio client; `Client` is the same API for synchronous code.
Both talk to any `Store`: `connect()` reaches the engine that `krt up` runs
(through `<state dir>/engine.sock`), `connect_kubernetes()` a cluster's
apiserver, `Client.embedded()` starts an engine in this process. `docs/client.md` is the guide.
"""

from kruntimes.client._async import STATE_DIR_ENV, AsyncClient, resolve_state_dir
from kruntimes.client._sync import Client
from kruntimes.client._types import (
    Action,
    Applied,
    BatchError,
    KubeconfigError,
    LogEntry,
    LogsUnavailable,
    new_run_name,
    run_spec,
)

__all__ = [
    "STATE_DIR_ENV",
    "Action",
    "Applied",
    "AsyncClient",
    "BatchError",
    "Client",
    "KubeconfigError",
    "LogEntry",
    "LogsUnavailable",
    "new_run_name",
    "resolve_state_dir",
    "run_spec",
]
