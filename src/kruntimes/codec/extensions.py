"""The wire rules of the kruntimes extensions: a Run's admission fields (priority class,
queue, gang, array), an array Run's progress, and the `RunQueue` kind.

They are additive to the Go project's format: each rule applies only when its
field is set, so a manifest without them passes exactly as before.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

from kruntimes.codec import limits
from kruntimes.codec.checks import (
    at_least,
    conditions,
    extra,
    max_chars,
    metadata_rules,
    quantities,
    syntax,
    within,
)
from kruntimes.codec.errors import FieldError
from kruntimes.codec.hooks import show
from kruntimes.codec.syntax import dns_label_problem, dns_subdomain_problem
from kruntimes.model import (
    ArraySpec,
    ArrayStatus,
    GangSpec,
    ObjectMeta,
    Run,
    RunQueue,
    RunQueueSpec,
    RunQueueStatus,
    RunSpec,
)

_E = FieldError
_INDEX_RANGES = re.compile(r"(\d{1,9}(-\d{1,9})?)(,\d{1,9}(-\d{1,9})?)*", re.ASCII)


def validate_run_queue(queue: RunQueue) -> tuple[FieldError, ...]:
    """Every rule a RunQueue breaks (nothing of a RunQueue is immutable)."""
    return (
        *run_queue_metadata_rules(queue.metadata),
        *run_queue_spec_rules(queue.spec),
        *run_queue_status_rules(queue.status),
    )


def run_queue_metadata_rules(meta: ObjectMeta) -> Iterator[FieldError]:
    yield from metadata_rules(meta)
    if meta.name and not dns_subdomain_problem(meta.name):
        problem = dns_label_problem(meta.name)
        yield from syntax("metadata.name", problem and f"{problem}: Runs name it in spec.queue")


def run_queue_spec_rules(spec: RunQueueSpec) -> Iterator[FieldError]:
    yield from quantities("spec.quota", spec.quota)
    if spec.borrowing_limit is not None:
        yield from quantities("spec.borrowingLimit", spec.borrowing_limit)
    if not (0 < spec.weight <= limits.QUEUE_WEIGHT_MAX):  # NaN fails too
        rule = f"must be a finite number > 0 and <= {limits.QUEUE_WEIGHT_MAX}"
        yield _E("spec.weight", f"{rule}, got {spec.weight!r}")
    if spec.cohort is not None:
        yield from syntax("spec.cohort", dns_label_problem(spec.cohort))
    yield from at_least("spec.maxPending", spec.max_pending, 0)
    limit = spec.starvation_limit_seconds
    if not (math.isfinite(limit) and limit >= 0):
        yield _E("spec.starvationLimitSeconds", f"must be a finite number >= 0, got {limit!r}")
    yield from extra("spec", spec.extra, RunQueueSpec)


def run_queue_status_rules(status: RunQueueStatus) -> Iterator[FieldError]:
    yield from at_least("status.pending", status.pending, 0)
    yield from at_least("status.admitted", status.admitted, 0)
    yield from quantities("status.usage", status.usage)
    yield from conditions("status.conditions", status.conditions)
    yield from extra("status", status.extra, RunQueueStatus)


def admission_rules(spec: RunSpec) -> Iterator[FieldError]:
    """The kruntimes extensions that decide when a Run may start: all optional."""
    if spec.priority_class_name is not None:
        path = "spec.priorityClassName"
        yield from syntax(path, dns_subdomain_problem(spec.priority_class_name))
        if spec.priority != 0:
            yield _E(
                path,
                "excludes a non-zero spec.priority: give either priorityClassName (a named "
                "priority) or priority (a number)",
            )
    if spec.queue is not None:
        yield from syntax("spec.queue", dns_label_problem(spec.queue))
    if spec.gang is not None:
        yield from _gang(spec.gang)
    if spec.array is not None:
        yield from _array(spec.array)
        if spec.gang is not None:
            yield _E(
                "spec",
                "array and gang are mutually exclusive: an array's indexes start independently",
            )


def _gang(gang: GangSpec) -> Iterator[FieldError]:
    yield from syntax("spec.gang.name", dns_label_problem(gang.name))
    yield from within("spec.gang.size", gang.size, limits.GANG_SIZE_MIN, limits.GANG_SIZE_MAX)
    timeout = gang.timeout_seconds
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        yield _E("spec.gang.timeoutSeconds", f"must be a finite number > 0, got {timeout!r}")


def _array(array: ArraySpec) -> Iterator[FieldError]:
    yield from within(
        "spec.array.completions",
        array.completions,
        limits.ARRAY_COMPLETIONS_MIN,
        limits.ARRAY_COMPLETIONS_MAX,
    )
    if array.parallelism is not None:
        high = max(array.completions, 1)
        rule = f"must be 1..{high} (at most completions), got {show(array.parallelism)}"
        if not 1 <= array.parallelism <= high:
            yield _E("spec.array.parallelism", rule)


def array_name_rules(run: Run) -> Iterator[FieldError]:
    """An array Run's children are named `<name>-<index>`: the longest must be a valid name too."""
    array = run.spec.array
    if array is None or array.completions < 1:
        return
    suffix = f"-{array.completions - 1}"
    name = run.metadata.name
    if name and len(name) + len(suffix) > limits.NAME_MAX:
        yield _E(
            "metadata.name",
            f"is too long for an array of {array.completions}: its child Runs are named "
            f"<name>{suffix[0]}<index>, so the name must be at most "
            f"{limits.NAME_MAX - len(suffix)} characters, got {len(name)}",
        )


def array_status_rules(path: str, array: ArrayStatus) -> Iterator[FieldError]:
    for name, count in (
        ("active", array.active),
        ("succeeded", array.succeeded),
        ("failed", array.failed),
    ):
        yield from at_least(f"{path}.{name}", count, 0)
    yield from _indexes(f"{path}.completedIndexes", array.completed_indexes)
    yield from _indexes(f"{path}.failedIndexes", array.failed_indexes)


def _indexes(path: str, text: str) -> Iterator[FieldError]:
    """Index ranges as Kubernetes Jobs write them: `1,3-5,7`, ascending, not overlapping."""
    if len(text) > limits.ARRAY_INDEXES_MAX:
        yield from max_chars(path, text, limits.ARRAY_INDEXES_MAX)
        return
    if not text:
        return
    rule = "must be ascending indexes and ranges like 1,3-5,7"
    if not _INDEX_RANGES.fullmatch(text):
        yield _E(path, f"{rule}, got {show(text)}")
        return
    last = -1
    for part in text.split(","):
        low, _, high = part.partition("-")
        start, end = int(low), int(high or low)
        if start <= last or end < start:
            yield _E(path, f"{rule} (no overlaps), got {show(text)}")
            return
        last = end
