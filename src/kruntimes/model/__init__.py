"""The kruntimes data model: frozen attrs classes, no I/O, no clock.

`Run` and `Runtime` mirror the `kruntimes.io/v1alpha1` wire format (snake_case
here, camelCase on the wire; `kruntimes.codec` translates). `RuntimePod` is the
scheduler's view of a warm Pod, built by adapters.
"""

from kruntimes.model.affinity import (
    RUNTIME_POD_TOPOLOGY,
    Affinity,
    LabelSelector,
    LabelSelectorRequirement,
    RunAffinityRules,
    RunAffinityTerm,
    SelectorOperator,
    WeightedRunAffinityTerm,
)
from kruntimes.model.enums import (
    CAPACITY_PHASES,
    TERMINAL_PHASES,
    ConditionReason,
    ConditionStatus,
    ConditionType,
    FailureReason,
    Phase,
    WaitCode,
)
from kruntimes.model.lifecycle import (
    TRANSITIONS,
    IllegalTransition,
    RunEvent,
    can_transition,
    transition,
)
from kruntimes.model.meta import Condition, ObjectMeta
from kruntimes.model.pod import (
    CAPACITY_ANNOTATION_PREFIX,
    HEARTBEAT_CONDITION,
    RUNTIME_LABEL,
    RuntimePod,
)
from kruntimes.model.run import (
    API_VERSION,
    DEFAULT_RUN_REQUESTS,
    RUN_KIND,
    ArtifactRef,
    EnvVar,
    FunctionMode,
    ResourceRequirements,
    RetryPolicy,
    Run,
    RunMode,
    RunSource,
    RunSpec,
    RunStatus,
    TaskMode,
    WorkspaceRef,
)
from kruntimes.model.runtime import (
    DEFAULT_POD_CAPACITY,
    DEFAULT_PORT,
    RUNTIME_KIND,
    Runtime,
    RuntimeSpec,
    RuntimeStatus,
)

__all__ = [
    "API_VERSION",
    "CAPACITY_ANNOTATION_PREFIX",
    "CAPACITY_PHASES",
    "DEFAULT_POD_CAPACITY",
    "DEFAULT_PORT",
    "DEFAULT_RUN_REQUESTS",
    "HEARTBEAT_CONDITION",
    "RUNTIME_KIND",
    "RUNTIME_LABEL",
    "RUNTIME_POD_TOPOLOGY",
    "RUN_KIND",
    "TERMINAL_PHASES",
    "TRANSITIONS",
    "Affinity",
    "ArtifactRef",
    "Condition",
    "ConditionReason",
    "ConditionStatus",
    "ConditionType",
    "EnvVar",
    "FailureReason",
    "FunctionMode",
    "IllegalTransition",
    "LabelSelector",
    "LabelSelectorRequirement",
    "ObjectMeta",
    "Phase",
    "ResourceRequirements",
    "RetryPolicy",
    "Run",
    "RunAffinityRules",
    "RunAffinityTerm",
    "RunEvent",
    "RunMode",
    "RunSource",
    "RunSpec",
    "RunStatus",
    "Runtime",
    "RuntimePod",
    "RuntimeSpec",
    "RuntimeStatus",
    "SelectorOperator",
    "TaskMode",
    "WaitCode",
    "WeightedRunAffinityTerm",
    "WorkspaceRef",
    "can_transition",
    "transition",
]
