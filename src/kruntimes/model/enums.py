"""Closed vocabularies of the wire format: phases, condition types, reasons."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """Where a Run is in its lifecycle (`status.phase`)."""

    PENDING = "Pending"
    SCHEDULED = "Scheduled"
    RUNNING = "Running"
    READY = "Ready"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    TIMEOUT = "Timeout"
    CANCELLED = "Cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_PHASES

    @property
    def holds_capacity(self) -> bool:
        """Whether a Run in this phase counts against its Pod's capacity."""
        return self in CAPACITY_PHASES


TERMINAL_PHASES = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.TIMEOUT, Phase.CANCELLED})
CAPACITY_PHASES = frozenset({Phase.SCHEDULED, Phase.RUNNING, Phase.READY})


class ConditionType(StrEnum):
    SCHEDULED = "Scheduled"
    RUNNING = "Running"
    COMPLETED = "Completed"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class ConditionReason(StrEnum):
    """Reasons that are not failures (failures use `FailureReason`)."""

    ASSIGNED = "Assigned"
    CLAIMED = "Claimed"
    RETRYING = "Retrying"
    COMPLETED = "Completed"
    RUN_COMPLETED = "RunCompleted"
    WAITING = "Waiting"


class FailureReason(StrEnum):
    """Why an attempt failed (condition reasons; `retryPolicy.retryableReasons`)."""

    TIMEOUT = "Timeout"
    PREPARE_SOURCE = "PrepareSource"
    RUNTIME_EXECUTE = "RuntimeExecute"
    RUNTIME_ERROR = "RuntimeError"
    EXECUTION_LOST = "ExecutionLost"
    CANCELLED = "Cancelled"
    POD_GONE = "PodGone"
    POD_TERMINATING = "PodTerminating"
    POD_UNHEALTHY = "PodUnhealthy"
    INVALID_RESOURCES = "InvalidResources"
    OUTPUTS_INVALID = "OutputsInvalid"
    OUTPUTS_TOO_LARGE = "OutputsTooLarge"
    ARTIFACT_INVALID = "ArtifactInvalid"


class WaitCode(StrEnum):
    """Why a Pending Run is not bound yet (kruntimes extension, shown in conditions)."""

    NO_POD_FOR_RUNTIME = "NoPodForRuntime"
    NO_AVAILABLE_POD = "NoAvailablePod"
    NO_CAPACITY = "NoCapacity"
    AFFINITY_UNSATISFIED = "AffinityUnsatisfied"
    FILTERED = "Filtered"
    BACKOFF = "Backoff"
    LOWER_PRIORITY = "LowerPriority"
    RESERVE_REJECTED = "ReserveRejected"
