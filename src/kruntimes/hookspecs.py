"""Every kruntimes extension point, in one module.

Plugins implement these with `@kruntimes.hookimpl` and are registered through
the `kruntimes` entry-point group or passed to `create_plugin_manager`.
Hooks are synchronous and pure: they read the arguments and return values,
they never do I/O or read a clock. An implementation may accept any subset
of a hook's parameters; hooks evolve by adding parameters only.

Placement hooks are called once per decision with the whole candidate
batch, never once per Pod, so a plugin costs one Python call per decision.
"""

# mypy: disable-error-code="empty-body"
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from kruntimes.core.admission import QueueState
    from kruntimes.core.config import SchedulerConfig
    from kruntimes.core.policy import (
        Availability,
        ClusterView,
        PodOrder,
        PreFilterResult,
        ScoreResult,
    )
    from kruntimes.core.state import PodState
    from kruntimes.model import Run, RuntimePod
    from kruntimes.registry import RuntimeRegistry

PROJECT = "kruntimes"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def kruntimes_pod_orders() -> Mapping[str, PodOrder]:
    """Offer named Pod orderings; `SchedulerConfig.ordering` picks one.

    An ordering maps a `PodState` to a sort key, lower is better; each pool
    keeps its available Pods in a heap by that key, so the best candidate is
    found in O(log pods). The key is recomputed whenever the Pod's usage
    changes. Names must be unique across plugins.

    Called once, when the scheduler is built. All results are merged.

    Added in 0.1.
    """


@hookspec
def kruntimes_pod_availability(
    pod: RuntimePod, now: float, config: SchedulerConfig
) -> Availability | None:
    """Say whether `pod` may receive new Runs at `now`.

    :param pod: the Pod as last reported.
    :param now: the cycle's time, seconds since the epoch.
    :param config: the scheduler's configuration.
    :return: an `Availability`; return `recheck_at` if the verdict will change
        by itself (a heartbeat going stale), so the core looks again then
        without polling. None abstains.

    Called when the Pod changes or heartbeats, and at `recheck_at`. A Pod is
    available only if no implementation says otherwise.

    Added in 0.1.
    """


@hookspec
def kruntimes_prefilter(run: Run, cluster: ClusterView) -> PreFilterResult | None:
    """Narrow the candidate Pods for `run` using indexes, before any Pod is looked at.

    :param run: the pending Run.
    :param cluster: read-only queries (`pods_hosting`, `runs_on`, ...).
    :return: a `PreFilterResult` (allowed, excluded and preferred Pod names,
        or an outright `reject` reason), or None to leave the set alone.

    Called once per placement decision. Results of all plugins are intersected.

    Added in 0.1.
    """


@hookspec
def kruntimes_filter(
    run: Run, pods: Sequence[PodState], cluster: ClusterView
) -> Mapping[str, str] | None:
    """Reject Pods of a candidate batch that `run` must not go to.

    :param run: the pending Run.
    :param pods: feasible candidates (available, with room for the request),
        best-first by the configured ordering.
    :param cluster: read-only queries.
    :return: `{pod name: reason}` for rejected Pods, or None to accept all.

    Called once per batch; if every Pod of a batch is rejected, the core walks
    on and calls again with the next batch. Judge each Pod on its own: the
    batch boundaries are not part of the contract.

    Added in 0.1.
    """


@hookspec
def kruntimes_score(
    run: Run, pods: Sequence[PodState], cluster: ClusterView, config: SchedulerConfig
) -> ScoreResult | None:
    """Score the feasible candidates for `run`; the highest weighted total wins.

    :param run: the pending Run.
    :param pods: at least two feasible Pods that passed every filter,
        best-first (at most `candidates_to_score`, plus preferred Pods).
    :param cluster: read-only queries.
    :param config: weights are in `config.score_weights`, by `ScoreResult.name`.
    :return: a `ScoreResult` with one score per Pod, in `pods` order: 0..100
        when `normalized`, else raw (normalized by `kruntimes_normalize_score`).
        None abstains.

    Called once per decision that has more than one candidate. Ties are broken
    by the ordering, then by Pod name, so placement is deterministic.

    Added in 0.1.
    """


@hookspec(firstresult=True)
def kruntimes_normalize_score(
    run: Run, pods: Sequence[PodState], result: ScoreResult
) -> Sequence[float] | None:
    """Map a raw `ScoreResult` onto 0..100.

    :param run: the pending Run.
    :param pods: the scored Pods, in the order of `result.scores`.
    :param result: a result with `normalized` False.
    :return: the normalized scores in `pods` order, or None for the default
        (min-max: the lowest becomes 0, the highest 100; all equal -> all 0).

    First result wins. Called once per raw score result.

    Added in 0.1.
    """


@hookspec
def kruntimes_reserve(run: Run, pod: PodState, cluster: ClusterView) -> str | None:
    """Claim plugin-side resources for `run` on the chosen `pod`, before the bind is written.

    :param run: the Run about to be bound.
    :param pod: the chosen Pod (its usage does not include `run` yet).
    :param cluster: read-only queries.
    :return: None to accept, or a reason to refuse (the Run then waits with
        `ReserveRejected` and every plugin's `kruntimes_unreserve` is called).

    Called once per bind decision, after scoring.

    Added in 0.1.
    """


@hookspec
def kruntimes_unreserve(run: Run, pod: str, cluster: ClusterView) -> None:
    """Release what `kruntimes_reserve` claimed for `run` on `pod`.

    :param run: the Run whose reservation is dropped.
    :param pod: the Pod name it was reserved on.
    :param cluster: read-only queries.

    Called when the bind write fails (a conflict), when another writer bound
    the Run elsewhere, or when a reserve was refused. Must be idempotent: it
    may be called for a reservation that was never made or already released.

    Added in 0.1.
    """


@hookspec(firstresult=True)
def kruntimes_classify_failure(
    run: Run, exit_code: int | None, message: str, reason: str
) -> str | None:
    """Map a failed attempt to a failure reason (a `FailureReason` value or your own).

    :param run: the Run whose attempt failed.
    :param exit_code: the process exit code, if there was one.
    :param message: the bounded error message.
    :param reason: the reason the agent determined (e.g. `RuntimeError`).
    :return: the reason to record and to match against `retryableReasons`,
        or None to keep `reason`.

    First result wins. Called by the agent once per failed attempt.

    Added in 0.1.
    """


@hookspec(firstresult=True)
def kruntimes_run_priority(run: Run) -> int | None:
    """The priority a Run is placed with, for example resolved from a priority class name.

    :param run: a Run the core sees for the first time.
    :return: an integer (higher is placed first), or None for the default:
        `SchedulerConfig.priority_classes[spec.priorityClassName]` when the Run
        names a class, else `spec.priority`.

    First result wins. Called once per Run, when the core first tracks it (a
    Run's priority, like `spec.priority`, never changes afterwards).

    Added in 0.2.
    """


@hookspec
def kruntimes_admit(run: Run, queue: QueueState, cluster: ClusterView) -> str | None:
    """Decide whether `run` may start now, after its queue's quota allowed it.

    :param run: a pending Run about to be placed (or a gang's Run, once per gang
        member is not guaranteed: the gang is admitted by its first Run).
    :param queue: its RunQueue's state, read-only: `queue.queue` (the RunQueue, None
        for the implicit default queue), `usage`, `pending`, `holding`, `weight`.
    :param cluster: read-only queries over Pods and Runs.
    :return: None to admit, or a reason: the Run keeps waiting with code
        `AdmissionRejected` and this message, and is looked at again in the next
        cycle that considers its pool. Budgets, time windows and per-tenant
        concurrency caps fit here.

    Called once per admission decision, only when some plugin implements it
    (otherwise it costs nothing). Must be pure and fast: it is on the hot path.

    Added in 0.2.
    """


@hookspec(firstresult=True)
def kruntimes_queue_share(
    queue: QueueState, capacity: Mapping[str, int], usage: Mapping[str, int]
) -> float | None:
    """The number that orders queues competing for one runtime's Pods: lowest goes next.

    :param queue: the RunQueue's state, read-only (see `kruntimes_admit`).
    :param capacity: the summed capacity of the runtime's Pods in the namespace.
    :param usage: what the queue's Runs hold on those Pods.
    :return: the queue's share, or None for the default: weighted dominant-resource
        fairness, `max(usage[r] / capacity[r]) / weight`.

    First result wins. Called when a cycle starts on a pool with several queues and
    after each bind, for the queue that bound. Ties go to the queue name that sorts
    first.

    Added in 0.2.
    """


@hookspec(firstresult=True)
def kruntimes_is_retryable(run: Run, reason: str) -> bool | None:
    """Override whether a failure `reason` is retryable for `run`.

    :param run: the Run whose attempt failed or was lost.
    :param reason: the failure reason (e.g. `PodGone`).
    :return: True or False to decide, None to use `retryPolicy.retryableReasons`.
        `Cancelled` never retries and `maxAttempts` always holds, whatever
        this returns.

    First result wins. Called once per failed or lost attempt.

    Added in 0.1.
    """


@hookspec
def kruntimes_register_runtimes(registry: RuntimeRegistry) -> None:
    """Add custom runtime kinds with `registry.add(RuntimeKind(...))`.

    :param registry: the `RuntimeRegistry` to add to; built-in kinds are in it already.

    Called once when the engine or agent starts. Duplicate names are an error.

    Added in 0.1.
    """
