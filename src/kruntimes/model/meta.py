"""Object metadata and conditions, the Kubernetes-shaped parts of every object."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from attrs import field, frozen

from kruntimes.model import converters as convert
from kruntimes.model.enums import ConditionStatus


def _frozen_map(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value) if value else {}


@frozen
class ObjectMeta:
    """The subset of Kubernetes `metadata` that kruntimes reads and writes."""

    name: str = ""
    namespace: str = "default"
    uid: str = ""
    resource_version: str = ""
    generation: int = 0
    labels: Mapping[str, str] = field(factory=dict, converter=_frozen_map)
    annotations: Mapping[str, str] = field(factory=dict, converter=_frozen_map)
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    finalizers: tuple[str, ...] = field(default=(), converter=convert.strings)
    owner_references: tuple[Mapping[str, Any], ...] = field(default=(), converter=convert.mappings)
    extra: Mapping[str, Any] = field(factory=dict, converter=_frozen_map)
    """Metadata fields kruntimes does not model (e.g. `managedFields`), kept verbatim."""


@frozen
class Condition:
    """A status condition; conditions are keyed by `type`."""

    type: str
    status: ConditionStatus
    reason: str = ""
    message: str = ""
    last_transition_time: datetime | None = None
    last_probe_time: datetime | None = None
    observed_generation: int | None = None
