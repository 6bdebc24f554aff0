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
    QUEUE_FULL = "QueueFull"
    GANG_TIMEOUT = "GangTimeout"
    INVALID_GANG = "InvalidGang"
    UNKNOWN_PRIORITY_CLASS = "UnknownPriorityClass"


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
    QUOTA_EXCEEDED = "QuotaExceeded"
    WAITING_FOR_GANG = "WaitingForGang"
    FAIR_SHARE = "FairShare"
    NO_QUEUE = "NoQueue"
    """The Run names a RunQueue that does not exist (yet) in its namespace."""
    QUEUE_BLOCKED = "QueueBlocked"
    """A Run ahead in its queue must go first (strict FIFO, or it waited past the
    queue's starvation limit)."""
    ADMISSION_REJECTED = "AdmissionRejected"
    """A `kruntimes_admit` plugin keeps the Run waiting."""


class QueueingStrategy(StrEnum):
    """How a RunQueue orders its Runs when the one ahead cannot start (kruntimes extension)."""

    STRICT_FIFO = "StrictFIFO"
    """Nothing behind the queue's head starts before it."""
    BEST_EFFORT_FIFO = "BestEffortFIFO"
    """Runs behind a head that cannot start yet may start (backfill), until the head has
    waited `starvationLimitSeconds`."""


class GangTimeoutAction(StrEnum):
    """What happens to a gang not placed within `gang.timeoutSeconds`."""

    FAIL = "Fail"
    KEEP_WAITING = "KeepWaiting"
