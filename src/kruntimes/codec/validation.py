"""The wire format's rules, checked on model objects (decoding runs them too).

Decoding finds structural problems (wrong JSON types, unknown enum values,
bad duration syntax); these are the rules a well-typed model object can still
break. Each rule yields `FieldError`s with wire paths, so a caller gets every
problem at once. Rules are grouped per document part (metadata, spec, status)
so that decoding can check the parts that structured even when another failed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from kruntimes.codec import limits
from kruntimes.codec.checks import (
    at_least,
    aware,
    conditions,
    duration,
    extra,
    labels,
    max_bytes,
    max_chars,
    max_items,
    metadata_rules,
    one_of,
    quantities,
    syntax,
    utf8_len,
    wire_names,
    within,
)
from kruntimes.codec.errors import FieldError
from kruntimes.codec.extensions import admission_rules, array_name_rules, array_status_rules
from kruntimes.codec.hooks import key_segment
from kruntimes.codec.syntax import (
    dns_subdomain_problem,
    env_name_problem,
    label_value_problem,
    qualified_name_problem,
    relative_path_problem,
)
from kruntimes.model import (
    Affinity,
    LabelSelector,
    ObjectMeta,
    Run,
    RunAffinityRules,
    RunAffinityTerm,
    RunSpec,
    RunStatus,
    Runtime,
    RuntimeSpec,
    RuntimeStatus,
    SelectorOperator,
)

_E = FieldError
_VALUED = (SelectorOperator.IN, SelectorOperator.NOT_IN)
_IMMUTABLE_SPEC = (
    "runtime", "source", "mode", "env", "timeout_seconds", "retry_policy", "resources",
    "workspace", "affinity", "priority", "priority_class_name", "queue", "gang", "array",
)  # fmt: skip


def validate_run(run: Run) -> tuple[FieldError, ...]:
    """Every rule a Run breaks: metadata first, then spec, then status."""
    return (
        *metadata_rules(run.metadata),
        *array_name_rules(run),
        *run_spec_rules(run.spec),
        *run_status_rules(run.status),
    )


def validate_run_status(status: RunStatus) -> tuple[FieldError, ...]:
    """The status rules alone, for a status written on its own."""
    return tuple(run_status_rules(status))


def validate_run_update(old: Run, new: Run) -> tuple[FieldError, ...]:
    """`validate_run(new)` plus what may not change once a Run exists."""
    errors = list(validate_run(new))
    names = wire_names(RunSpec)
    for attr in _IMMUTABLE_SPEC:
        if getattr(old.spec, attr) != getattr(new.spec, attr):
            errors.append(_E(f"spec.{names[attr]}", "is immutable after create"))
    if old.spec.cancel_requested and not new.spec.cancel_requested:
        errors.append(_E("spec.cancelRequested", "may only change from false to true"))
    return tuple(errors)


def validate_runtime(runtime: Runtime) -> tuple[FieldError, ...]:
    """Every rule a Runtime breaks."""
    return (
        *runtime_metadata_rules(runtime.metadata),
        *runtime_spec_rules(runtime.spec),
        *runtime_status_rules(runtime.status),
    )


def runtime_metadata_rules(meta: ObjectMeta) -> Iterator[FieldError]:
    yield from metadata_rules(meta)
    if len(meta.name) > limits.RUNTIME_NAME_MAX:
        rule = f"must be at most {limits.RUNTIME_NAME_MAX} characters: it is the runtime label"
        yield _E("metadata.name", f"{rule} of its Pods")


def runtime_spec_rules(spec: RuntimeSpec) -> Iterator[FieldError]:
    yield from at_least("spec.replicas", spec.replicas, 0)
    yield from within("spec.port", spec.port, limits.PORT_MIN, limits.PORT_MAX)
    yield from quantities("spec.capacity.resources", spec.capacity)
    if spec.artifact_store is not None:
        driver = spec.artifact_store.get("driver")
        yield from one_of("spec.artifactStore.driver", driver, limits.ARTIFACT_DRIVERS)
    yield from extra("spec", spec.extra, RuntimeSpec)


def runtime_status_rules(status: RuntimeStatus) -> Iterator[FieldError]:
    yield from at_least("status.readyReplicas", status.ready_replicas, 0)
    yield from conditions("status.conditions", status.conditions)
    yield from extra("status", status.extra, RuntimeStatus)


def run_spec_rules(spec: RunSpec) -> Iterator[FieldError]:
    if not spec.runtime:
        yield _E("spec.runtime", "required")
    else:
        yield from syntax("spec.runtime", label_value_problem(spec.runtime))
    yield from _source(spec)
    yield from _mode(spec)
    if (ws := spec.workspace) is not None:
        yield from syntax("spec.workspace.name", dns_subdomain_problem(ws.name))
        yield from one_of("spec.workspace.kind", ws.kind, (limits.WORKSPACE_KIND,))
        yield from one_of("spec.workspace.apiGroup", ws.api_group, (limits.WORKSPACE_API_GROUP,))
    if spec.affinity is not None:
        yield from _affinity("spec.affinity", spec.affinity)
    yield from quantities("spec.resources.requests", spec.resources.requests)
    yield from _env(spec)
    yield from duration("spec.timeout", spec.timeout_seconds, 1)
    policy = spec.retry_policy
    yield from within(
        "spec.retryPolicy.maxAttempts",
        policy.max_attempts,
        limits.MAX_ATTEMPTS_MIN,
        limits.MAX_ATTEMPTS_MAX,
    )
    yield from duration("spec.retryPolicy.backoff", policy.backoff_seconds, 0)
    reasons = "spec.retryPolicy.retryableReasons"
    yield from max_items(reasons, policy.retryable_reasons, limits.RETRYABLE_REASONS_MAX)
    for i, reason in enumerate(policy.retryable_reasons):
        yield from one_of(f"{reasons}[{i}]", reason, limits.RETRYABLE_REASONS)
    yield from at_least("spec.ttlSecondsAfterFinished", spec.ttl_seconds_after_finished, 0)
    yield from within("spec.priority", spec.priority, limits.PRIORITY_MIN, limits.PRIORITY_MAX)
    yield from admission_rules(spec)
    yield from extra("spec", spec.extra, RunSpec)


def _source(spec: RunSpec) -> Iterator[FieldError]:
    src = spec.source
    if src is None:
        return
    if src.inline is not None:
        yield from max_bytes("spec.source.inline", src.inline, limits.INLINE_MAX_BYTES)
        if src.repo_url is not None:
            yield _E("spec.source", "inline and repoURL are mutually exclusive")
    if src.inline_path is not None:
        path = "spec.source.inlinePath"
        yield from max_chars(path, src.inline_path, limits.INLINE_PATH_MAX)
        yield from syntax(path, relative_path_problem(src.inline_path))
    if src.repo_url is not None:
        yield from max_chars("spec.source.repoURL", src.repo_url, limits.REPO_URL_MAX)
    if src.commit_sha is not None:
        yield from max_chars("spec.source.commitSHA", src.commit_sha, limits.COMMIT_SHA_MAX)
        if src.repo_url is None:
            yield _E("spec.source.commitSHA", "requires repoURL")


def _mode(spec: RunSpec) -> Iterator[FieldError]:
    task, function = spec.mode.task, spec.mode.function
    if (task is None) == (function is None):
        yield _E("spec.mode", "exactly one of task or function")
    if task is not None:
        path = "spec.mode.task.entrypoint"
        yield from max_chars(path, task.entrypoint, limits.ENTRYPOINT_MAX)
        if spec.source is None or spec.source.inline is None:
            yield from syntax(path, relative_path_problem(task.entrypoint, allow_dots=True))
        yield from max_items("spec.mode.task.args", task.args, limits.ARGS_MAX_ITEMS)
        for i, arg in enumerate(task.args):
            yield from max_chars(f"spec.mode.task.args[{i}]", arg, limits.ARG_MAX)
    if function is not None:
        path = "spec.mode.function"
        if not function.handler:
            yield _E(f"{path}.handler", "required")
        yield from max_chars(f"{path}.handler", function.handler, limits.HANDLER_MAX)
        yield from at_least(
            f"{path}.idleTimeoutSeconds",
            function.idle_timeout_seconds,
            limits.IDLE_TIMEOUT_MIN_SECONDS,
        )


def _affinity(path: str, affinity: Affinity) -> Iterator[FieldError]:
    for name, rules in (
        ("runAffinity", affinity.run_affinity),
        ("runAntiAffinity", affinity.run_anti_affinity),
    ):
        if rules is not None:
            yield from _rules(f"{path}.{name}", rules)


def _rules(path: str, rules: RunAffinityRules) -> Iterator[FieldError]:
    names = wire_names(RunAffinityRules)
    required, preferred = f"{path}.{names['required']}", f"{path}.{names['preferred']}"
    yield from max_items(required, rules.required, limits.AFFINITY_TERMS_MAX)
    for i, term in enumerate(rules.required):
        yield from _term(f"{required}[{i}]", term)
    yield from max_items(preferred, rules.preferred, limits.AFFINITY_TERMS_MAX)
    for i, weighted in enumerate(rules.preferred):
        yield from within(
            f"{preferred}[{i}].weight", weighted.weight, limits.WEIGHT_MIN, limits.WEIGHT_MAX
        )
        yield from _term(f"{preferred}[{i}].runAffinityTerm", weighted.run_affinity_term)


def _term(path: str, term: RunAffinityTerm) -> Iterator[FieldError]:
    if term.label_selector.is_empty:
        yield _E(f"{path}.labelSelector", "must not be empty")
    yield from _selector(f"{path}.labelSelector", term.label_selector)
    yield from one_of(f"{path}.topologyKey", term.topology_key, limits.TOPOLOGY_KEYS)


def _selector(path: str, selector: LabelSelector) -> Iterator[FieldError]:
    yield from labels(f"{path}.matchLabels", selector.match_labels, check_values=True)
    for i, req in enumerate(selector.match_expressions):
        at = f"{path}.matchExpressions[{i}]"
        yield from syntax(f"{at}.key", qualified_name_problem(req.key))
        if req.operator in _VALUED and not req.values:
            yield _E(f"{at}.values", f"must not be empty for operator {req.operator.value}")
        if req.operator not in _VALUED and req.values:
            yield _E(f"{at}.values", f"must be empty for operator {req.operator.value}")
        for j, value in enumerate(req.values):
            yield from syntax(f"{at}.values[{j}]", label_value_problem(value))


def _env(spec: RunSpec) -> Iterator[FieldError]:
    yield from max_items("spec.env", spec.env, limits.ENV_MAX_ITEMS)
    first: dict[str, int] = {}
    for i, var in enumerate(spec.env):
        yield from syntax(f"spec.env[{i}].name", env_name_problem(var.name))
        if var.name in first:
            yield _E(
                f"spec.env[{i}].name", f"duplicate name (first at spec.env[{first[var.name]}])"
            )
        first.setdefault(var.name, i)
        if var.value is not None and var.value_from is not None:
            yield _E(f"spec.env[{i}]", "value and valueFrom are mutually exclusive")


def run_status_rules(status: RunStatus) -> Iterator[FieldError]:
    if (status.assigned_pod is None) != (status.assigned_pod_uid is None):
        missing = "assignedPodUID" if status.assigned_pod_uid is None else "assignedPod"
        yield _E(f"status.{missing}", "must be set together with assignedPod and assignedPodUID")
    yield from max_chars("status.message", status.message, limits.MESSAGE_MAX)
    yield from aware("status.startTime", status.start_time)
    yield from aware("status.completionTime", status.completion_time)
    yield from _outputs("status.outputs", status.outputs)
    refs = "status.artifactRefs"
    yield from max_items(refs, status.artifact_refs, limits.ARTIFACT_REFS_MAX)
    for i, ref in enumerate(status.artifact_refs):
        yield from one_of(f"{refs}[{i}].driver", ref.driver, limits.ARTIFACT_DRIVERS)
        yield from one_of(f"{refs}[{i}].type", ref.type, limits.ARTIFACT_TYPES)
        yield from at_least(f"{refs}[{i}].sizeBytes", ref.size_bytes, 0)
        yield from aware(f"{refs}[{i}].createdAt", ref.created_at)
    yield from at_least("status.attempt", status.attempt, 1)
    yield from conditions("status.conditions", status.conditions)
    if status.artifact_store is not None and "driver" in status.artifact_store:
        driver = status.artifact_store["driver"]
        yield from one_of("status.artifactStore.driver", driver, limits.ARTIFACT_DRIVERS)
    if status.array is not None:
        yield from array_status_rules("status.array", status.array)
    yield from extra("status", status.extra, RunStatus)


def _outputs(path: str, outputs: Mapping[str, str]) -> Iterator[FieldError]:
    if len(outputs) > limits.OUTPUTS_MAX_KEYS:
        yield _E(path, f"must have at most {limits.OUTPUTS_MAX_KEYS} keys, got {len(outputs)}")
    total = 0
    for key, value in outputs.items():
        at = f"{path}{key_segment(key)}"
        if not key:
            yield _E(at, "key must not be empty")
        key_size, value_size = utf8_len(key), utf8_len(value)
        if key_size > limits.OUTPUT_KEY_MAX_BYTES:
            yield _E(at, f"key must be at most {limits.OUTPUT_KEY_MAX_BYTES} bytes, got {key_size}")
        yield from max_bytes(at, value, limits.OUTPUT_VALUE_MAX_BYTES)
        total += key_size + value_size
    if total > limits.OUTPUTS_MAX_TOTAL_BYTES:
        yield _E(
            path, f"must be at most {limits.OUTPUTS_MAX_TOTAL_BYTES} bytes in all, got {total}"
        )
