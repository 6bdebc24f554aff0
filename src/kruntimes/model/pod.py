"""`RuntimePod`: the scheduler's view of one warm Pod of a pool."""

from __future__ import annotations

from collections.abc import Mapping

from attrs import field, frozen

from kruntimes.model.meta import _frozen_map
from kruntimes.model.runtime import DEFAULT_POD_CAPACITY

RUNTIME_LABEL = "runtime"
CAPACITY_ANNOTATION_PREFIX = "kruntimes.io/capacity."
HEARTBEAT_CONDITION = "kruntimes.io/RuntimedReady"


def _capacity(value: Mapping[str, int] | None) -> Mapping[str, int]:
    return dict(value) if value else DEFAULT_POD_CAPACITY


@frozen
class RuntimePod:
    """What placement needs to know about a Pod, whatever backs it.

    Adapters build these (`pod_from_v1` for Kubernetes, local processes in the
    embedded engine). Times are seconds since the epoch, like the core's `now`.
    """

    name: str
    runtime: str
    namespace: str = "default"
    uid: str = ""
    labels: Mapping[str, str] = field(factory=dict, converter=_frozen_map)
    capacity: Mapping[str, int] = field(factory=lambda: DEFAULT_POD_CAPACITY, converter=_capacity)
    ready: bool = True
    """Running and PodReady."""
    deleting: bool = False
    deletion_time: float | None = None
    heartbeat: float | None = None
    """Last `kruntimes.io/RuntimedReady` probe time; None means never heard from."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)
