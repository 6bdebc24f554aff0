"""Every bound the wire format enforces, named once for validation, docs and CRDs.

Lengths of free text are counted in characters (as a CRD `maxLength` counts
them) except where the name says bytes (UTF-8), which is where the upstream
limit is about storage size.
"""

from __future__ import annotations

from attrs import frozen

from kruntimes.model import API_VERSION, RUNTIME_POD_TOPOLOGY, FailureReason

NAME_MAX = 253
"""DNS-1123 subdomain: Run, Runtime and workspace names, label key prefixes."""
LABEL_MAX = 63
"""DNS-1123 label (namespaces), label values, label key names, `spec.runtime`."""
RUNTIME_NAME_MAX = LABEL_MAX
"""A Runtime's name becomes the `runtime=<name>` label of its Pods."""

INLINE_MAX_BYTES = 256 * 1024
INLINE_PATH_MAX = 4096
REPO_URL_MAX = 2048
COMMIT_SHA_MAX = 256
ENTRYPOINT_MAX = 4096
ARGS_MAX_ITEMS = 256
ARG_MAX = 8192
HANDLER_MAX = 512
IDLE_TIMEOUT_MIN_SECONDS = 1

AFFINITY_TERMS_MAX = 32
"""Per direction (runAffinity, runAntiAffinity) and per kind (required, preferred)."""
WEIGHT_MIN = 1
WEIGHT_MAX = 100
TOPOLOGY_KEYS = (RUNTIME_POD_TOPOLOGY,)

ENV_MAX_ITEMS = 256
MAX_ATTEMPTS_MIN = 1
MAX_ATTEMPTS_MAX = 100
RETRYABLE_REASONS_MAX = 32
RETRYABLE_REASONS = tuple(r.value for r in FailureReason)

WORKSPACE_KIND = "PersistentWorkspace"
WORKSPACE_API_GROUP = API_VERSION

PRIORITY_MIN = -(1 << 31)
PRIORITY_MAX = (1 << 31) - 1
"""`spec.priority` is an int32, like a Pod's priority."""

GANG_SIZE_MIN = 1
GANG_SIZE_MAX = 10_000
ARRAY_COMPLETIONS_MIN = 1
ARRAY_COMPLETIONS_MAX = 1_000_000
ARRAY_INDEXES_MAX = 64 * 1024
"""`status.array.completedIndexes` / `failedIndexes`: ranges keep them short; a pathological
alternation of done and not-done indexes must still fit an etcd object."""

QUEUE_WEIGHT_MAX = 1_000_000
"""A RunQueue's `weight` is > 0 and at most this: shares are ratios of weights."""

MESSAGE_MAX = 4096
OUTPUTS_MAX_KEYS = 64
OUTPUT_KEY_MAX_BYTES = 128
OUTPUT_VALUE_MAX_BYTES = 8 * 1024
OUTPUTS_MAX_TOTAL_BYTES = 64 * 1024
ARTIFACT_REFS_MAX = 32
ARTIFACT_DRIVERS = ("filesystem", "s3")
ARTIFACT_TYPES = ("file", "directory", "archive", "blob")
CONDITIONS_MAX = 16

PORT_MIN = 1
PORT_MAX = 65535

JSON_DEPTH_MAX = 64
"""Nesting depth of values kept verbatim (unknown fields, `valueFrom`, Pod templates)."""
JSON_NODES_MAX = 250_000
"""Values kept verbatim in one document; bounds the work a hostile input can cause."""
INT_MIN = -(1 << 63)
INT_MAX = (1 << 63) - 1
"""Every integer on the wire must fit Go's int64."""


@frozen
class Limit:
    """One documented bound: where it applies and what it says."""

    field: str
    rule: str


def _one_of(values: tuple[str, ...]) -> str:
    return ", ".join(f"`{v}`" for v in values)


LIMITS: tuple[Limit, ...] = (
    Limit("metadata.name", f"DNS-1123 subdomain, at most {NAME_MAX} characters"),
    Limit("metadata.name (Runtime)", f"also at most {RUNTIME_NAME_MAX} characters"),
    Limit("metadata.namespace", f"DNS-1123 label, at most {LABEL_MAX} characters"),
    Limit("metadata.labels", "qualified-name keys, label-syntax values"),
    Limit("spec.runtime", f"required, 1..{RUNTIME_NAME_MAX} characters, label-value syntax"),
    Limit("spec.source.inline", f"at most {INLINE_MAX_BYTES} bytes of UTF-8; excludes repoURL"),
    Limit(
        "spec.source.inlinePath",
        f"relative, at most {INLINE_PATH_MAX} characters, no empty, `.` or `..` segments",
    ),
    Limit("spec.source.repoURL", f"at most {REPO_URL_MAX} characters"),
    Limit("spec.source.commitSHA", f"at most {COMMIT_SHA_MAX} characters; needs repoURL"),
    Limit("spec.mode", "exactly one of `task` or `function`"),
    Limit(
        "spec.mode.task.entrypoint",
        f"at most {ENTRYPOINT_MAX} characters; relative without `..` unless source.inline",
    ),
    Limit("spec.mode.task.args", f"at most {ARGS_MAX_ITEMS} items of at most {ARG_MAX} each"),
    Limit("spec.mode.function.handler", f"required, at most {HANDLER_MAX} characters"),
    Limit("spec.mode.function.idleTimeoutSeconds", f"at least {IDLE_TIMEOUT_MIN_SECONDS}"),
    Limit("spec.workspace.name", f"DNS-1123 subdomain, at most {NAME_MAX} characters"),
    Limit("spec.workspace.kind", f"`{WORKSPACE_KIND}`"),
    Limit("spec.workspace.apiGroup", f"`{WORKSPACE_API_GROUP}`"),
    Limit(
        "spec.affinity.*.{required,preferred}DuringSchedulingIgnoredDuringExecution",
        f"at most {AFFINITY_TERMS_MAX} terms each",
    ),
    Limit("spec.affinity.*.preferred...[i].weight", f"{WEIGHT_MIN}..{WEIGHT_MAX}"),
    Limit("spec.affinity.*[i].labelSelector", "required, not empty"),
    Limit("spec.affinity.*[i].topologyKey", _one_of(TOPOLOGY_KEYS)),
    Limit(
        "spec.affinity.*[i].labelSelector.matchExpressions[j]",
        "`In`/`NotIn` need values; `Exists`/`DoesNotExist` take none",
    ),
    Limit("spec.resources.requests", "qualified-name keys; whole numbers >= 0; `runs` default 1"),
    Limit("spec.env", f"at most {ENV_MAX_ITEMS} items; unique names; value excludes valueFrom"),
    Limit("spec.env[i].name", "printable ASCII without `=`, not empty"),
    Limit("spec.timeout", "a duration > 0"),
    Limit("spec.retryPolicy.maxAttempts", f"{MAX_ATTEMPTS_MIN}..{MAX_ATTEMPTS_MAX}"),
    Limit("spec.retryPolicy.backoff", "a duration >= 0"),
    Limit(
        "spec.retryPolicy.retryableReasons",
        f"at most {RETRYABLE_REASONS_MAX}, each one of {_one_of(RETRYABLE_REASONS)}",
    ),
    Limit("spec.ttlSecondsAfterFinished", ">= 0"),
    Limit("spec.priority", f"{PRIORITY_MIN} to {PRIORITY_MAX} (int32); kruntimes extension"),
    Limit(
        "spec.priorityClassName",
        f"DNS-1123 subdomain, at most {NAME_MAX} characters; excludes a non-zero `priority`; "
        "kruntimes extension",
    ),
    Limit("spec.queue", f"DNS-1123 label, at most {LABEL_MAX} characters; kruntimes extension"),
    Limit("spec.gang.name", f"DNS-1123 label, at most {LABEL_MAX} characters"),
    Limit("spec.gang.size", f"{GANG_SIZE_MIN}..{GANG_SIZE_MAX}"),
    Limit("spec.gang.timeoutSeconds", "a finite number > 0"),
    Limit("spec.array.completions", f"{ARRAY_COMPLETIONS_MIN}..{ARRAY_COMPLETIONS_MAX}"),
    Limit("spec.array.parallelism", "1..`completions`"),
    Limit("spec.array, spec.gang", "mutually exclusive"),
    Limit(
        "metadata.name (array Run)",
        f"at most {NAME_MAX} characters with the longest child suffix `-<completions - 1>`",
    ),
    Limit(
        "status.array.completedIndexes, status.array.failedIndexes",
        f"ascending indexes and ranges like `1,3-5`, at most {ARRAY_INDEXES_MAX} characters",
    ),
    Limit("status.array.active, .succeeded, .failed", ">= 0"),
    Limit("status.message", f"at most {MESSAGE_MAX} characters"),
    Limit(
        "status.outputs",
        f"at most {OUTPUTS_MAX_KEYS} keys; key 1..{OUTPUT_KEY_MAX_BYTES} bytes; value at most "
        f"{OUTPUT_VALUE_MAX_BYTES} bytes; all together at most {OUTPUTS_MAX_TOTAL_BYTES} bytes",
    ),
    Limit("status.artifactRefs", f"at most {ARTIFACT_REFS_MAX}"),
    Limit("status.artifactRefs[i].driver", _one_of(ARTIFACT_DRIVERS)),
    Limit("status.artifactRefs[i].type", _one_of(ARTIFACT_TYPES)),
    Limit("status.artifactRefs[i].sizeBytes", ">= 0"),
    Limit("status.conditions", f"at most {CONDITIONS_MAX}; types unique and not empty"),
    Limit("status.assignedPod, status.assignedPodUID", "set together or not at all"),
    Limit("status.attempt", ">= 1"),
    Limit("spec.replicas (Runtime)", ">= 0"),
    Limit("spec.port (Runtime)", f"{PORT_MIN}..{PORT_MAX}"),
    Limit("spec.capacity.resources (Runtime)", "qualified-name keys; whole numbers >= 0"),
    Limit("spec.artifactStore.driver (Runtime)", _one_of(ARTIFACT_DRIVERS)),
    Limit("status.readyReplicas (Runtime)", ">= 0"),
    Limit("metadata.name (RunQueue)", f"DNS-1123 label, at most {LABEL_MAX} characters"),
    Limit("spec.quota, spec.borrowingLimit (RunQueue)", "qualified-name keys; whole numbers >= 0"),
    Limit("spec.weight (RunQueue)", f"a finite number > 0 and <= {QUEUE_WEIGHT_MAX}"),
    Limit("spec.cohort (RunQueue)", f"DNS-1123 label, at most {LABEL_MAX} characters"),
    Limit("spec.maxPending (RunQueue)", ">= 0"),
    Limit("spec.starvationLimitSeconds (RunQueue)", "a finite number >= 0"),
    Limit("status.pending, status.admitted (RunQueue)", ">= 0"),
    Limit("status.usage (RunQueue)", "qualified-name keys; whole numbers >= 0"),
    Limit("any integer", f"fits int64 ({INT_MIN}..{INT_MAX})"),
    Limit("any number", "an integer or a finite decimal (kruntimes extension fields)"),
    Limit("any timestamp", "RFC 3339; timezone-aware in the model"),
    Limit(
        "values kept verbatim",
        f"JSON; nested at most {JSON_DEPTH_MAX} levels; at most {JSON_NODES_MAX} per document",
    ),
)
"""The table `docs/wire-format.md` shows (a test keeps the two in sync)."""
