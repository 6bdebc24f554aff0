"""Run affinity and anti-affinity over the `kruntimes.io/runtime-pod` topology.

Required terms become allowed / excluded Pod sets computed from the label
index (so they cost O(matching Pods), not O(Pods)); preferred terms add
their Pods to the scored candidates and score by summed weights. Required
anti-affinity is symmetric, as in Kubernetes: a Run is kept off Pods whose
Runs' anti-affinity selects it. A required affinity term with no target
anywhere is satisfied when the Run's own labels match it (bootstrap).
"""

from __future__ import annotations

from collections.abc import Sequence

from kruntimes.core.decisions import WaitReason
from kruntimes.core.policy import ClusterView, PreFilterResult, ScoreResult
from kruntimes.core.state import PodState
from kruntimes.hookspecs import hookimpl
from kruntimes.model import Run, WaitCode


def _selected_by_holders(run: Run, cluster: ClusterView) -> set[str]:
    labels = run.metadata.labels
    pods: set[str] = set()
    for holder in cluster.anti_affinity_holders(run.metadata.namespace):
        affinity = holder.run.spec.affinity
        assert affinity is not None
        assert affinity.run_anti_affinity is not None
        if holder.key != run.key and any(
            term.label_selector.matches(labels) for term in affinity.run_anti_affinity.required
        ):
            pods.add(holder.pod or "")
    return pods


@hookimpl
def kruntimes_prefilter(run: Run, cluster: ClusterView) -> PreFilterResult | None:
    namespace = run.metadata.namespace
    affinity = run.spec.affinity
    if affinity is None and not cluster.anti_affinity_holders(namespace):
        return None  # the common case, decided without building anything
    excluded = _selected_by_holders(run, cluster)
    if affinity is None or affinity.is_empty:
        return (
            PreFilterResult(excluded=frozenset(excluded), unsatisfied=_ANTI) if excluded else None
        )
    allowed: frozenset[str] | None = None
    preferred: set[str] = set()
    problems: list[str] = []
    rules = affinity.run_affinity
    if rules is not None:
        for term in rules.required:
            hosts = cluster.pods_hosting(namespace, term.label_selector)
            if not hosts and term.label_selector.matches(run.metadata.labels):
                continue  # bootstrap: the first Run of its kind may go anywhere
            if not hosts:
                problems.append("no Run matches a required affinity term yet")
            allowed = hosts if allowed is None else allowed & hosts
        for weighted in rules.preferred:
            preferred |= cluster.pods_hosting(namespace, weighted.run_affinity_term.label_selector)
    anti = affinity.run_anti_affinity
    if anti is not None:
        for term in anti.required:
            excluded |= cluster.pods_hosting(namespace, term.label_selector)
    if allowed is None and not excluded and not preferred:
        return None
    message = "; ".join(problems) or "no Pod with room satisfies the Run's required (anti-)affinity"
    return PreFilterResult(
        allowed=allowed,
        excluded=frozenset(excluded),
        preferred=frozenset(preferred),
        unsatisfied=WaitReason(WaitCode.AFFINITY_UNSATISFIED, message),
    )


_ANTI = WaitReason(
    WaitCode.AFFINITY_UNSATISFIED,
    "every Pod with room hosts a Run whose anti-affinity excludes this Run",
)


@hookimpl
def kruntimes_score(run: Run, pods: Sequence[PodState], cluster: ClusterView) -> ScoreResult | None:
    affinity = run.spec.affinity
    if affinity is None:
        return None
    namespace = run.metadata.namespace
    weighted = [
        (w.weight, w.run_affinity_term.label_selector)
        for w in (affinity.run_affinity.preferred if affinity.run_affinity else ())
    ] + [
        (-w.weight, w.run_affinity_term.label_selector)
        for w in (affinity.run_anti_affinity.preferred if affinity.run_anti_affinity else ())
    ]
    if not weighted:
        return None
    scores = [0.0] * len(pods)
    for weight, selector in weighted:
        hosts = cluster.pods_hosting(namespace, selector)
        for i, pod in enumerate(pods):
            if pod.name in hosts:
                scores[i] += weight
    return ScoreResult("affinity", scores, normalized=False)
