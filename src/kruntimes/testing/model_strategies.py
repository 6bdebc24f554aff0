"""Hypothesis strategies for model objects and their `kruntimes.io/v1alpha1` wire dicts.

`runs()`, `run_specs()`, `run_statuses()`, `runtimes()` and `run_queues()`
generate objects that pass `kruntimes.codec` validation and reach every field:
affinity terms, env with `valueFrom`, artifact refs, conditions, gangs and
arrays, unknown fields in `extra`, timestamps with and without microseconds.
`run_dicts()` (and `runtime_dicts()`, `run_queue_dicts()`) are their canonical
wire dicts; `hostile_dicts()` are what a decoder must survive.
"""

from __future__ import annotations

import copy
import functools
import string
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from kruntimes.codec import run_queue_to_dict, run_to_dict, runtime_to_dict
from kruntimes.model import (
    Affinity,
    ArraySpec,
    ArrayStatus,
    ArtifactRef,
    Condition,
    ConditionStatus,
    ConditionType,
    EnvVar,
    FailureReason,
    FunctionMode,
    GangSpec,
    GangTimeoutAction,
    LabelSelector,
    LabelSelectorRequirement,
    ObjectMeta,
    Phase,
    QueueingStrategy,
    ResourceRequirements,
    RetryPolicy,
    Run,
    RunAffinityRules,
    RunAffinityTerm,
    RunMode,
    RunQueue,
    RunQueueSpec,
    RunQueueStatus,
    RunSource,
    RunSpec,
    RunStatus,
    Runtime,
    RuntimeSpec,
    RuntimeStatus,
    SelectorOperator,
    TaskMode,
    WeightedRunAffinityTerm,
    WorkspaceRef,
)
from kruntimes.testing.hostile import hostile_trees, mutations, nested

_INT64 = (1 << 63) - 1


_LOWER = string.ascii_lowercase + string.digits
_ALNUM = string.ascii_letters + string.digits


def _word(edge: str, inner: str, max_inner: int) -> st.SearchStrategy[str]:
    """One `edge` character, or two around up to `max_inner` `inner` ones."""
    ends = st.sampled_from(edge)
    return ends | st.tuples(ends, st.text(inner, max_size=max_inner), ends).map("".join)


def _joined(sep: str, *parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map(sep.join)


_dns_labels = _word(_LOWER, _LOWER + "-", 10)
_dns_names = st.lists(_dns_labels, min_size=1, max_size=3).map(".".join)
_label_names = _word(_ALNUM, _ALNUM + "-_.", 10)
_label_values = st.just("") | _label_names
_label_keys = _label_names | _joined("/", _dns_names, _label_names)
_segments = st.text(_ALNUM + "_-.", min_size=1, max_size=9).filter(lambda s: s not in (".", ".."))
_relative_paths = st.lists(_segments, min_size=1, max_size=3).map("/".join)
_capitalized = _joined("", st.sampled_from(string.ascii_uppercase), st.text(_ALNUM, max_size=9))
_texts = st.text(st.characters(codec="utf-8"), max_size=24)
_words = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
_uids = st.uuids().map(str)


def timestamps() -> st.SearchStrategy[datetime]:
    """Aware UTC datetimes, half of them on a whole second (as Kubernetes writes them)."""
    moments = st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    )
    return moments | moments.map(lambda d: d.replace(microsecond=0))


def durations(min_ns: int = 0) -> st.SearchStrategy[float]:
    """Float seconds that are whole nanoseconds, as a Go duration string can hold them."""
    return st.integers(min_ns, 10**14).map(lambda ns: ns / 1_000_000_000)


def json_values(max_leaves: int = 6) -> st.SearchStrategy[Any]:
    """Values a JSON document can hold (what `extra` and verbatim fields keep)."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-_INT64 - 1, _INT64)
        | st.floats(allow_nan=False, allow_infinity=False)
        | _texts
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_texts, inner, max_size=3),
        max_leaves=max_leaves,
    )


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def _fresh(value: Any) -> st.SearchStrategy[Any]:
    """A new copy of a mutable constant for every example."""
    return st.builds(copy.deepcopy, st.just(value))


_extras = st.dictionaries(_capitalized.map("x".__add__), json_values(), max_size=2)
"""Unknown fields: the `x` prefix keeps them clear of every known wire name."""


def object_metas(names: st.SearchStrategy[str] = _dns_names) -> st.SearchStrategy[ObjectMeta]:
    owner = st.fixed_dictionaries(
        {"apiVersion": st.just("v1"), "kind": st.just("Pod"), "name": _dns_names, "uid": _uids}
    )
    return st.builds(
        ObjectMeta,
        name=names,
        namespace=_dns_labels,
        uid=_uids | st.just(""),
        resource_version=st.integers(0, 10**9).map(str) | st.just(""),
        generation=st.integers(0, 1000),
        labels=st.dictionaries(_label_keys, _label_values, max_size=3),
        annotations=st.dictionaries(_label_keys, _texts, max_size=2),
        creation_timestamp=_optional(timestamps()),
        deletion_timestamp=_optional(timestamps()),
        finalizers=st.lists(_label_keys, max_size=2),
        owner_references=st.lists(owner, max_size=1),
        extra=_extras,
    )


def _selectors() -> st.SearchStrategy[LabelSelector]:
    requirement = st.builds(
        LabelSelectorRequirement,
        key=_label_keys,
        operator=st.sampled_from([SelectorOperator.IN, SelectorOperator.NOT_IN]),
        values=st.lists(_label_values, min_size=1, max_size=3),
    ) | st.builds(
        LabelSelectorRequirement,
        key=_label_keys,
        operator=st.sampled_from([SelectorOperator.EXISTS, SelectorOperator.DOES_NOT_EXIST]),
    )

    def selectors(min_labels: int, min_expressions: int) -> st.SearchStrategy[LabelSelector]:
        return st.builds(
            LabelSelector,
            match_labels=st.dictionaries(
                _label_keys, _label_values, min_size=min_labels, max_size=2
            ),
            match_expressions=st.lists(requirement, min_size=min_expressions, max_size=2),
        )

    return selectors(1, 0) | selectors(0, 1)


def affinities() -> st.SearchStrategy[Affinity]:
    terms = st.builds(RunAffinityTerm, label_selector=_selectors())
    weighted = st.builds(
        WeightedRunAffinityTerm, weight=st.integers(1, 100), run_affinity_term=terms
    )
    rules = st.builds(
        RunAffinityRules,
        required=st.lists(terms, max_size=2),
        preferred=st.lists(weighted, max_size=2),
    )
    return st.builds(Affinity, run_affinity=_optional(rules), run_anti_affinity=_optional(rules))


def _env() -> st.SearchStrategy[list[EnvVar]]:
    names = st.text(string.printable[:94].replace("=", ""), min_size=1, max_size=12)
    value_from = st.fixed_dictionaries(
        {"secretKeyRef": st.fixed_dictionaries({"name": _dns_names, "key": _label_values})}
    ) | _fresh({"fieldRef": {"fieldPath": "metadata.name"}})
    var = (
        st.builds(EnvVar, name=names, value=_texts)
        | st.builds(EnvVar, name=names, value_from=value_from)
        | st.builds(EnvVar, name=names)
    )
    return st.lists(var, max_size=4, unique_by=lambda v: v.name)


def _sources_and_modes() -> st.SearchStrategy[tuple[RunSource | None, RunMode]]:
    """An entrypoint may be absolute only when the source is inline."""
    args = st.lists(_texts, max_size=3)
    function = st.builds(
        FunctionMode,
        handler=st.lists(
            st.text(string.ascii_lowercase + "_", min_size=1, max_size=8), min_size=1, max_size=3
        ).map(".".join),
        idle_timeout_seconds=_optional(st.integers(1, 86400)),
    )

    def modes(entrypoints: st.SearchStrategy[str]) -> st.SearchStrategy[RunMode]:
        task = st.builds(TaskMode, entrypoint=entrypoints, args=args)
        return st.builds(RunMode, task=task) | st.builds(RunMode, function=function)

    relative = st.just("") | _relative_paths
    inline = st.builds(RunSource, inline=_texts, inline_path=_optional(_relative_paths))
    repo = st.just("https://git.example.com/team/repo.git")
    others = (
        st.none()
        | st.just(RunSource())
        | st.builds(RunSource, repo_url=repo)
        | st.builds(
            RunSource,
            repo_url=repo,
            commit_sha=st.text("0123456789abcdef", min_size=7, max_size=40),
        )
    )
    return st.tuples(inline, modes(relative | st.just("/bin/bash"))) | st.tuples(
        others, modes(relative)
    )


def _admission() -> st.SearchStrategy[dict[str, Any]]:
    """The kruntimes extension fields, each combination valid: a priority number or a
    priority class (never both), a gang or an array (never both), a queue or not."""
    priorities = st.fixed_dictionaries(
        {"priority": st.integers(-(2**31), 2**31 - 1)}
    ) | st.fixed_dictionaries({"priority": st.just(0), "priority_class_name": _dns_names})
    gangs = st.builds(
        GangSpec,
        name=_dns_labels,
        size=st.integers(1, 10_000),
        timeout_seconds=_optional(_positive_numbers(10**6)),
        on_timeout=st.sampled_from(GangTimeoutAction),
    )
    arrays = st.integers(1, 1_000_000).flatmap(
        lambda n: st.builds(
            ArraySpec,
            completions=st.just(n),
            parallelism=_optional(st.integers(1, n)),
            compact_status=st.booleans(),
        )
    )
    together: st.SearchStrategy[dict[str, Any]] = (
        st.just({})
        | st.fixed_dictionaries({"gang": gangs})
        | st.fixed_dictionaries({"array": arrays})
    )
    queue = st.fixed_dictionaries({}, optional={"queue": _dns_labels})
    return st.tuples(priorities, together, queue).map(_merged)


def _merged(parts: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    return {key: value for part in parts for key, value in part.items()}


def _positive_numbers(high: float) -> st.SearchStrategy[float]:
    """Finite floats in (0, high], some of them whole (as a manifest writes `30`)."""
    fractions = st.floats(0, high, exclude_min=True, allow_nan=False, allow_infinity=False)
    return fractions | st.integers(1, int(high)).map(float)


def _spec(
    source_and_mode: tuple[RunSource | None, RunMode], admission: dict[str, Any], **fields: Any
) -> RunSpec:
    source, mode = source_and_mode
    return RunSpec(source=source, mode=mode, **admission, **fields)


@functools.cache
def run_specs() -> st.SearchStrategy[RunSpec]:
    """Valid Run specs; every optional part is sometimes absent, sometimes present."""
    policies = st.builds(
        RetryPolicy,
        max_attempts=st.integers(1, 100),
        backoff_seconds=durations(),
        retryable_reasons=st.lists(st.sampled_from([r.value for r in FailureReason]), max_size=3),
    )
    return st.builds(
        _spec,
        _sources_and_modes(),
        _admission(),
        runtime=_label_names,
        workspace=_optional(st.builds(WorkspaceRef, name=_dns_names)),
        affinity=_optional(affinities()),
        resources=st.builds(
            ResourceRequirements,
            st.dictionaries(_label_keys, st.integers(0, _INT64), max_size=3),
        ),
        env=_env(),
        timeout_seconds=_optional(durations(min_ns=1)),
        cancel_requested=st.booleans(),
        retry_policy=policies,
        ttl_seconds_after_finished=_optional(st.integers(0, 10**6)),
        extra=_extras,
    )


def conditions() -> st.SearchStrategy[list[Condition]]:
    types = st.sampled_from([t.value for t in ConditionType]) | _capitalized
    condition = st.builds(
        Condition,
        type=types,
        status=st.sampled_from(ConditionStatus),
        reason=_texts,
        message=_texts,
        last_transition_time=_optional(timestamps()),
        last_probe_time=_optional(timestamps()),
        observed_generation=_optional(st.integers(0, 1000)),
    )
    return st.lists(condition, max_size=3, unique_by=lambda c: c.type)


_artifact_stores = st.fixed_dictionaries(
    {"driver": st.just("filesystem"), "filesystem": _fresh({"volumeClaimName": "artifacts"})}
) | st.fixed_dictionaries(
    {"driver": st.just("s3"), "s3": st.fixed_dictionaries({"bucket": _dns_names})}
)


@functools.cache
def run_statuses() -> st.SearchStrategy[RunStatus]:
    refs = st.builds(
        ArtifactRef,
        name=_words,
        driver=st.sampled_from(["filesystem", "s3"]),
        type=st.sampled_from(["file", "directory", "archive", "blob"]),
        location=_texts,
        size_bytes=st.integers(0, 2**40),
        digest=st.just("")
        | st.text("0123456789abcdef", min_size=64, max_size=64).map("sha256:".__add__),
        content_type=st.sampled_from(["", "text/plain", "application/gzip"]),
        created_at=_optional(timestamps()),
    )
    assignment = st.just((None, None)) | st.tuples(_dns_names, _uids)
    return st.builds(
        _status,
        assignment,
        phase=st.sampled_from(Phase),
        message=_texts,
        start_time=_optional(timestamps()),
        completion_time=_optional(timestamps()),
        outputs=st.dictionaries(_words, _texts, max_size=4),
        artifact_refs=st.lists(refs, max_size=2),
        attempt=st.integers(1, 100),
        conditions=conditions(),
        endpoint=_optional(st.just("http://10.0.0.7:8080")),
        artifact_store=_optional(_artifact_stores),
        array=_optional(_array_statuses()),
        extra=_extras,
    )


def index_ranges(indexes: list[int]) -> str:
    """`[1, 3, 4, 5, 7]` as `1,3-5,7`, the form of `status.array.*Indexes`."""
    parts: list[str] = []
    for index in sorted(set(indexes)):
        if parts and parts[-1].rpartition("-")[2] == str(index - 1):
            start = parts[-1].partition("-")[0]
            parts[-1] = f"{start}-{index}"
        else:
            parts.append(str(index))
    return ",".join(parts)


def _array_statuses() -> st.SearchStrategy[ArrayStatus]:
    ranges = st.lists(st.integers(0, 999_999), max_size=8).map(index_ranges)
    counts = st.integers(0, 1_000_000)
    return st.builds(
        ArrayStatus,
        active=counts,
        succeeded=counts,
        failed=counts,
        completed_indexes=ranges,
        failed_indexes=ranges,
    )


def _status(assignment: tuple[str | None, str | None], **fields: Any) -> RunStatus:
    pod, uid = assignment
    return RunStatus(assigned_pod=pod, assigned_pod_uid=uid, **fields)


@functools.cache
def runs() -> st.SearchStrategy[Run]:
    """Valid Runs covering every wire field."""
    return st.builds(Run, metadata=object_metas(), spec=run_specs(), status=run_statuses())


@functools.cache
def runtimes() -> st.SearchStrategy[Runtime]:
    """Valid Runtimes covering every wire field."""
    template = st.fixed_dictionaries(
        {
            "metadata": _fresh({"labels": {"team": "ci"}}),
            "spec": st.fixed_dictionaries(
                {"containers": _fresh([{"name": "runtime", "image": "ghcr.io/x/bash:1"}])}
            ),
        }
    )
    spec = st.builds(
        RuntimeSpec,
        template=template | _fresh({}),
        port=st.integers(1, 65535),
        replicas=st.integers(0, 50),
        daemon_image=_optional(st.just("ghcr.io/x/runtimed:0.1")),
        capacity=st.dictionaries(_label_keys, st.integers(0, 10**6), max_size=3),
        artifact_store=_optional(_artifact_stores),
        workspace=_optional(_fresh({"emptyDir": {}})),
        extra=_extras,
    )
    status = st.builds(
        RuntimeStatus, ready_replicas=st.integers(0, 50), conditions=conditions(), extra=_extras
    )
    names = _word(_LOWER, _LOWER + "-", 20)
    return st.builds(Runtime, metadata=object_metas(names), spec=spec, status=status)


@functools.cache
def run_queues() -> st.SearchStrategy[RunQueue]:
    """Valid RunQueues covering every wire field."""
    amounts = st.dictionaries(_label_keys, st.integers(0, _INT64), max_size=3)
    spec = st.builds(
        RunQueueSpec,
        quota=amounts,
        weight=_positive_numbers(1e6),
        cohort=_optional(_dns_labels),
        borrowing_limit=_optional(amounts),
        max_pending=_optional(st.integers(0, 10**6)),
        queueing_strategy=st.sampled_from(QueueingStrategy),
        starvation_limit_seconds=st.just(0.0) | _positive_numbers(86_400),
        extra=_extras,
    )
    status = st.builds(
        RunQueueStatus,
        pending=st.integers(0, 10**6),
        admitted=st.integers(0, 10**6),
        usage=amounts,
        conditions=conditions(),
        extra=_extras,
    )
    return st.builds(RunQueue, metadata=object_metas(_dns_labels), spec=spec, status=status)


@functools.cache
def run_dicts() -> st.SearchStrategy[dict[str, Any]]:
    """Canonical wire dicts of valid Runs (what `run_to_dict` writes)."""
    return runs().map(run_to_dict)


@functools.cache
def runtime_dicts() -> st.SearchStrategy[dict[str, Any]]:
    return runtimes().map(runtime_to_dict)


@functools.cache
def run_queue_dicts() -> st.SearchStrategy[dict[str, Any]]:
    return run_queues().map(run_queue_to_dict)


@functools.cache
def hostile_dicts() -> st.SearchStrategy[Any]:
    """Inputs a decoder must reject cleanly (or accept): random trees with odd keys and
    values, valid documents with nodes replaced, removed, multiplied or added, deep nesting.

    Cycles and shared sub-objects are not JSON; test them with a few explicit documents.
    """
    return (
        hostile_trees()
        | mutations(run_dicts())
        | mutations(runtime_dicts())
        | mutations(run_queue_dicts())
        | st.integers(60, 300).map(nested)
    )
