"""Built-in plugins. They register exactly like third-party ones and can be disabled by name."""

from __future__ import annotations

from kruntimes.plugins import affinity, availability, load
from kruntimes.runtimes import kinds

BUILTIN_PLUGINS: dict[str, object] = {
    "availability": availability,
    "affinity": affinity,
    "least-loaded": load.LeastLoaded(),
    "most-allocated": load.MostAllocated(),
    "runtimes": kinds,
}
"""Registration name -> plugin object, in registration order."""

__all__ = ["BUILTIN_PLUGINS"]
