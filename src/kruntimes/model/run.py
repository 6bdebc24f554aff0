"""The Run resource (`kruntimes.io/v1alpha1`, kind `Run`): one execution on a warm pool."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from attrs import field, frozen

from kruntimes.model import converters as convert
from kruntimes.model.affinity import Affinity
from kruntimes.model.enums import ConditionType, GangTimeoutAction, Phase
from kruntimes.model.meta import Condition, ObjectMeta, _frozen_map

API_VERSION = "kruntimes.io/v1alpha1"
RUN_KIND = "Run"


@frozen
class RunSource:
    """Where the Run's code comes from: inline text or a repository."""

    inline: str | None = None
    inline_path: str | None = None
    repo_url: str | None = None
    commit_sha: str | None = None


@frozen
class TaskMode:
    """Run an entrypoint with arguments to completion."""

    entrypoint: str = ""
    args: tuple[str, ...] = field(default=(), converter=convert.strings)


@frozen
class FunctionMode:
    """Serve a handler until idle (function mode; the Run goes `Ready`)."""

    handler: str = ""
    idle_timeout_seconds: int | None = None


@frozen
class RunMode:
    """Exactly one of `task` or `function` (checked by validation, as on the wire)."""

    task: TaskMode | None = None
    function: FunctionMode | None = None


@frozen
class WorkspaceRef:
    name: str
    kind: str = "PersistentWorkspace"
    api_group: str = API_VERSION


@frozen
class EnvVar:
    """A Kubernetes EnvVar; `value_from` is kept verbatim."""

    name: str
    value: str | None = None
    value_from: Mapping[str, Any] | None = None


@frozen
class RetryPolicy:
    """How many attempts a Run gets and how long to wait between them."""

    max_attempts: int = 1
    backoff_seconds: float = 1.0
    retryable_reasons: tuple[str, ...] = field(default=(), converter=convert.strings)


DEFAULT_RUN_REQUESTS: Mapping[str, int] = {"runs": 1}


def _requests(value: Mapping[str, int] | None) -> Mapping[str, int]:
    if not value:
        return DEFAULT_RUN_REQUESTS
    if "runs" not in value:
        return {**DEFAULT_RUN_REQUESTS, **value}
    return dict(value)


@frozen
class ResourceRequirements:
    """Logical resources a Run consumes on its Pod; `runs` defaults to 1."""

    requests: Mapping[str, int] = field(factory=lambda: DEFAULT_RUN_REQUESTS, converter=_requests)


@frozen
class GangSpec:
    """kruntimes extension: the `size` Runs naming gang `name` (in one namespace) are bound
    together or not at all."""

    name: str
    size: int
    timeout_seconds: float | None = None
    """How long the gang may wait to be placed, from its first Run's creation; None: forever."""
    on_timeout: GangTimeoutAction = GangTimeoutAction.FAIL
    """`Fail`: every Run of the gang fails with reason `GangTimeout`; `KeepWaiting`: they
    keep waiting, saying that the timeout passed."""


@frozen
class ArraySpec:
    """kruntimes extension: one submission for `completions` indexed executions.

    Each index runs as a child Run named `<name>-<index>` with the index in the
    environment variable `KRUNTIMES_ARRAY_INDEX`; at most `parallelism` children
    exist at once. With `compact_status` finished children are counted in the
    parent's `status.array` and deleted, so N completions never mean N objects.
    """

    completions: int
    parallelism: int | None = None
    """At most this many indexes at once; None: all of them."""
    compact_status: bool = False


@frozen
class RunSpec:
    runtime: str
    mode: RunMode = field(factory=lambda: RunMode(task=TaskMode()))
    source: RunSource | None = None
    workspace: WorkspaceRef | None = None
    affinity: Affinity | None = None
    resources: ResourceRequirements = field(factory=ResourceRequirements)
    env: tuple[EnvVar, ...] = field(default=(), converter=convert.env_vars)
    timeout_seconds: float | None = None
    cancel_requested: bool = False
    retry_policy: RetryPolicy = field(factory=RetryPolicy)
    ttl_seconds_after_finished: int | None = None
    priority: int = 0
    """kruntimes extension: Runs of a pool are placed highest priority first, FIFO among
    equals. Immutable, like a Pod's priority."""
    priority_class_name: str | None = None
    """kruntimes extension: a named priority (`SchedulerConfig.priority_classes`, or a
    `kruntimes_run_priority` plugin), used instead of `priority`. Immutable."""
    queue: str | None = None
    """kruntimes extension: the RunQueue (in the Run's namespace) that admits the Run;
    None: the namespace's `default` queue. Immutable."""
    gang: GangSpec | None = None
    """kruntimes extension: bind with the other Runs of the gang, all or none. Immutable."""
    array: ArraySpec | None = None
    """kruntimes extension: this Run stands for `array.completions` indexed child Runs and is
    never placed itself. Immutable."""
    extra: Mapping[str, Any] = field(factory=dict, converter=_frozen_map)
    """Spec fields this version does not know, kept so that they survive a round trip."""


@frozen
class ArtifactRef:
    name: str
    driver: str = "filesystem"
    type: str = "file"
    location: str = ""
    size_bytes: int = 0
    digest: str = ""
    content_type: str = ""
    created_at: datetime | None = None


@frozen
class ArrayStatus:
    """Progress of an array Run: counts, and index sets as ranges like `1,3-5`."""

    active: int = 0
    succeeded: int = 0
    failed: int = 0
    completed_indexes: str = ""
    failed_indexes: str = ""


@frozen
class RunStatus:
    phase: Phase = Phase.PENDING
    assigned_pod: str | None = None
    assigned_pod_uid: str | None = None
    message: str = ""
    start_time: datetime | None = None
    completion_time: datetime | None = None
    outputs: Mapping[str, str] = field(factory=dict, converter=_frozen_map)
    artifact_refs: tuple[ArtifactRef, ...] = field(default=(), converter=convert.artifact_refs)
    attempt: int = 1
    conditions: tuple[Condition, ...] = field(default=(), converter=convert.conditions)
    endpoint: str | None = None
    artifact_store: Mapping[str, Any] | None = None
    array: ArrayStatus | None = None
    """kruntimes extension: progress of an array Run (`spec.array`)."""
    extra: Mapping[str, Any] = field(factory=dict, converter=_frozen_map)
    """Status fields this version does not know, written back unchanged."""

    def condition(self, type: str | ConditionType) -> Condition | None:
        for cond in self.conditions:
            if cond.type == type:
                return cond
        return None


@frozen
class Run:
    metadata: ObjectMeta
    spec: RunSpec
    status: RunStatus = field(factory=RunStatus)

    @property
    def key(self) -> tuple[str, str]:
        """`(namespace, name)`: how stores and the core identify a Run."""
        return (self.metadata.namespace, self.metadata.name)
