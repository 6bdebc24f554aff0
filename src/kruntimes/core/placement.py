"""One placement decision: pre-filter, walk the pool best-first, filter, score, pick.

The walk pops Pods off the pool's heap until `candidates_to_score` feasible
ones are found, so a decision costs O(k log pods), not O(pods). Filter hooks
see those candidates as one batch; only if they reject the whole batch is the
walk continued for another. A Pod whose `runs` slots are all taken receives no
Run, whatever the Run requests: the heap holds only Pods with a free slot, and
the allowed and preferred sets of pre-filters obey the same rule.
"""

from __future__ import annotations

from kruntimes.core.decisions import WaitReason
from kruntimes.core.policy import ClusterView, Policy
from kruntimes.core.pool import Pool
from kruntimes.core.resources import fits
from kruntimes.core.state import PodState, RunState
from kruntimes.model import Run, WaitCode

_NONE: frozenset[str] = frozenset()


def decide(
    st: RunState, pool: Pool, policy: Policy, cluster: ClusterView
) -> tuple[PodState | None, WaitReason | None, tuple[PodState, ...]]:
    """`place` as a plain tuple `(pod, wait, popped)`, for the scheduler's hot loop."""
    run = st.run
    request = st.request
    k = policy.candidates_to_score
    results = policy.prefilter(run, cluster)
    if not results:  # nothing narrows the candidates: the common case, walked directly
        popped: list[PodState] = []
        rejections: dict[str, str] = {}
        if k == 1 and not policy.has_filters:
            # The best Pod is looked at on top of the heap, not taken off: the bind
            # re-ranks it in place (`Pool.touch`). Pods that do not fit are taken off
            # and returned in `popped`, as the general walk does.
            while True:
                pod = pool.peek_best()
                if pod is None:
                    return None, _why_none(pool, rejections, None, _NONE, None), tuple(popped)
                spec = pod.pod  # `pod.fits(request)`, inlined
                if spec is not None and fits(request, pod.used, spec.capacity):
                    break
                pool.pop_best()
                popped.append(pod)
            refusal = policy.reserve(run, pod, cluster)
            if refusal is None:
                return pod, None, tuple(popped)
            policy.unreserve(run, pod.name, cluster)
            return None, WaitReason(WaitCode.RESERVE_REJECTED, refusal), tuple(popped)
        candidates = _walk(
            pool,
            request,
            excluded=_NONE,
            k=k,
            policy=policy,
            run=run,
            cluster=cluster,
            rejections=rejections,
            popped=popped,
        )
        if not candidates:
            return None, _why_none(pool, rejections, None, _NONE, None), tuple(popped)
        return _chosen(run, candidates, policy, cluster, popped)
    allowed: frozenset[str] | None = None
    excluded: frozenset[str] = _NONE
    preferred: frozenset[str] = _NONE
    unsatisfied: WaitReason | None = None
    for result in results:
        if result.reject is not None:
            return None, result.reject, ()
        if result.allowed is not None:
            allowed = result.allowed if allowed is None else allowed & result.allowed
        excluded |= result.excluded
        preferred |= result.preferred
        if result.unsatisfied is not None and unsatisfied is None:
            unsatisfied = result.unsatisfied

    rejections = {}
    popped = []
    if allowed is None:
        candidates = _walk(
            pool,
            request,
            excluded=excluded,
            k=k,
            policy=policy,
            run=run,
            cluster=cluster,
            rejections=rejections,
            popped=popped,
        )
    else:
        feasible = [
            p
            for name in allowed
            if name not in excluded
            and (p := pool.pods.get(name)) is not None
            and p.available
            and p.has_room()
            and p.fits(request)
        ]
        candidates = _filtered(pool.ordered(feasible), policy, run, cluster, rejections)[:k]
    if preferred:
        extra = [
            p
            for name in sorted(preferred)
            if name not in excluded
            and (allowed is None or name in allowed)
            and (p := pool.pods.get(name)) is not None
            and p.available
            and p.has_room()
            and p.fits(request)
            and p not in candidates
        ]
        if extra:
            candidates = pool.ordered(
                candidates + _filtered(extra, policy, run, cluster, rejections)
            )

    if not candidates:
        return (
            None,
            _why_none(pool, rejections, allowed, excluded, unsatisfied),
            tuple(popped),
        )
    return _chosen(run, candidates, policy, cluster, popped)


def _chosen(
    run: Run,
    candidates: list[PodState],
    policy: Policy,
    cluster: ClusterView,
    popped: list[PodState],
) -> tuple[PodState | None, WaitReason | None, tuple[PodState, ...]]:
    if len(candidates) == 1:
        best = candidates[0]
    else:
        totals = policy.score(run, candidates, cluster)
        top = max(totals)
        best = candidates[totals.index(top)]  # first of the ties: best-ordered, then by name
    return _reserved(run, best, policy, cluster, popped)


def _reserved(
    run: Run,
    best: PodState,
    policy: Policy,
    cluster: ClusterView,
    popped: list[PodState],
) -> tuple[PodState | None, WaitReason | None, tuple[PodState, ...]]:
    refusal = policy.reserve(run, best, cluster)
    if refusal is not None:
        policy.unreserve(run, best.name, cluster)
        return None, WaitReason(WaitCode.RESERVE_REJECTED, refusal), tuple(popped)
    return best, None, tuple(popped)


def _walk(
    pool: Pool,
    request: tuple[tuple[str, int], ...],
    *,
    excluded: frozenset[str],
    k: int,
    policy: Policy,
    run: object,
    cluster: ClusterView,
    rejections: dict[str, str],
    popped: list[PodState],
) -> list[PodState]:
    while True:
        batch: list[PodState] = []
        while len(batch) < k:
            pod = pool.pop_best()
            if pod is None:
                break
            popped.append(pod)
            if pod.key[1] not in excluded and pod.fits(request):
                batch.append(pod)
        if not batch:
            return []
        kept = _filtered(batch, policy, run, cluster, rejections)
        if kept:
            return kept


def _filtered(
    pods: list[PodState],
    policy: Policy,
    run: object,
    cluster: ClusterView,
    rejections: dict[str, str],
) -> list[PodState]:
    if not pods or not policy.has_filters:
        return pods
    rejected = policy.filter(run, pods, cluster)  # type: ignore[arg-type]
    if not rejected:
        return pods
    rejections.update(rejected)
    return [p for p in pods if p.key[1] not in rejected]


def _why_none(
    pool: Pool,
    rejections: dict[str, str],
    allowed: frozenset[str] | None,
    excluded: frozenset[str],
    unsatisfied: WaitReason | None,
) -> WaitReason:
    namespace, runtime = pool.key
    if not pool.pods:
        return WaitReason(
            WaitCode.NO_POD_FOR_RUNTIME,
            f"no Runtime Pod with label runtime={runtime} in namespace {namespace}",
        )
    if not pool.available_count:
        sample = next(iter(pool.pods.values()))
        return WaitReason(
            WaitCode.NO_AVAILABLE_POD,
            f"none of {len(pool.pods)} Pods of runtime {runtime} is available "
            f"(e.g. {sample.name}: {sample.unavailable_reason})",
        )
    if rejections:
        name, why = sorted(rejections.items())[0]
        return WaitReason(
            WaitCode.FILTERED, f"{len(rejections)} Pod(s) filtered out, e.g. {name}: {why}"
        )
    if unsatisfied is not None and (allowed is not None or excluded):
        return unsatisfied
    return WaitReason(WaitCode.NO_CAPACITY, f"no Pod of runtime {runtime} has room for the request")
