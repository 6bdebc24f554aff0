"""The Runtime resource (kind `Runtime`): a warm pool of Runtime Pods."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from kruntimes.model import converters as convert
from kruntimes.model.meta import Condition, ObjectMeta, _frozen_map

RUNTIME_KIND = "Runtime"
DEFAULT_PORT = 9091
DEFAULT_POD_CAPACITY: Mapping[str, int] = {"runs": 2}
"""Capacity of a Runtime Pod that carries no `kruntimes.io/capacity.*` annotation."""


@frozen
class RuntimeSpec:
    template: Mapping[str, Any] = field(factory=dict, converter=_frozen_map)
    """A Kubernetes PodTemplateSpec, kept verbatim; container 0 is named `runtime`."""
    port: int = DEFAULT_PORT
    replicas: int = 1
    daemon_image: str | None = None
    capacity: Mapping[str, int] = field(factory=dict, converter=_frozen_map)
    """`capacity.resources` on the wire: logical resources of each Pod."""
    artifact_store: Mapping[str, Any] | None = None
    workspace: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(factory=dict, converter=_frozen_map)


@frozen
class RuntimeStatus:
    ready_replicas: int = 0
    conditions: tuple[Condition, ...] = field(default=(), converter=convert.conditions)
    extra: Mapping[str, Any] = field(factory=dict, converter=_frozen_map)


@frozen
class Runtime:
    metadata: ObjectMeta
    spec: RuntimeSpec = field(factory=RuntimeSpec)
    status: RuntimeStatus = field(factory=RuntimeStatus)
