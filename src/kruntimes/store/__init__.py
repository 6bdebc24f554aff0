"""Where Runs, Runtimes, RunQueues and Runtime Pods live: the `Store` port and its embedded
implementations.

- `MemoryStore`: in process, for tests and as the engine's working set;
- `SqliteStore`: a `MemoryStore` written through to a SQLite file, the
  default when no cluster is configured (`default_store_path()`);
- `RemoteStore`: the store of an engine in another process, through the
  `StoreServer` it runs on a Unix socket (`default_socket_path()`).

`docs/stores.md` describes the semantics they share with the Kubernetes adapter.
"""

from kruntimes.store.memory import MemoryStore, Persistence
from kruntimes.store.port import (
    AlreadyExists,
    Conflict,
    EventType,
    Forbidden,
    Gone,
    Invalid,
    Kind,
    Listing,
    NotFound,
    Store,
    StoreError,
    Unavailable,
    Unsupported,
    WatchEvent,
)
from kruntimes.store.remote import RemoteStore
from kruntimes.store.server import StoreServer, default_socket_path
from kruntimes.store.sqlite import SqlitePersistence, SqliteStore, default_store_path

__all__ = [
    "AlreadyExists",
    "Conflict",
    "EventType",
    "Gone",
    "Invalid",
    "Kind",
    "Listing",
    "MemoryStore",
    "NotFound",
    "Persistence",
    "RemoteStore",
    "SqlitePersistence",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreServer",
    "Unavailable",
    "Forbidden",
    "Unsupported",
    "WatchEvent",
    "default_socket_path",
    "default_store_path",
]
