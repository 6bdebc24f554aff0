"""Indexes over the Runs that hold capacity, for affinity queries in O(matches)."""

from __future__ import annotations

from collections.abc import Iterable

from kruntimes.core.state import PodState, RunState
from kruntimes.model import LabelSelector

_LabelIndex = dict[tuple[str, str], dict[str, int]]
"""`(label key, value) -> {pod name: how many holding Runs there carry it}`."""


class HolderIndex:
    """Per namespace: holding Runs, a label index of them, and those with anti-affinity."""

    _pods: dict[tuple[str, str], PodState]

    def __init__(self) -> None:
        self._holders: dict[str, dict[tuple[str, str], RunState]] = {}
        self._labels: dict[str, _LabelIndex] = {}
        self._anti: dict[str, dict[tuple[str, str], RunState]] = {}

    def _index_holder(self, st: RunState) -> None:
        namespace = st.key[0]
        self._holders.setdefault(namespace, {})[st.key] = st
        labels = st.run.metadata.labels
        if labels:
            index = self._labels.setdefault(namespace, {})
            pod = st.pod or ""
            for item in labels.items():
                counts = index.setdefault(item, {})
                counts[pod] = counts.get(pod, 0) + 1
        if _has_required_anti(st):
            self._anti.setdefault(namespace, {})[st.key] = st

    def _unindex_holder(self, st: RunState) -> None:
        namespace = st.key[0]
        holders = self._holders.get(namespace)
        if holders is None or holders.pop(st.key, None) is None:
            return
        labels = st.run.metadata.labels
        if labels:
            index = self._labels[namespace]
            pod = st.pod or ""
            for item in labels.items():
                counts = index.get(item)
                if counts is None or pod not in counts:
                    continue
                if counts[pod] <= 1:
                    del counts[pod]
                    if not counts:
                        del index[item]
                else:
                    counts[pod] -= 1
        anti = self._anti.get(namespace)
        if anti is not None:
            anti.pop(st.key, None)

    def pods_hosting(self, namespace: str, selector: LabelSelector) -> frozenset[str]:
        holders = self._holders.get(namespace)
        if not holders:
            return frozenset()
        if selector.match_labels:
            index = self._labels.get(namespace, {})
            buckets = [index.get(item) for item in selector.match_labels.items()]
            if any(b is None for b in buckets):
                return frozenset()
            smallest = min((b for b in buckets if b is not None), key=len)
            found = set()
            for pod in smallest:
                ps = self._pods.get((namespace, pod))
                if ps is not None and any(selector.matches(r.labels) for r in ps.runs.values()):
                    found.add(pod)
            return frozenset(found)
        return frozenset(st.pod or "" for st in holders.values() if selector.matches(st.labels))

    def anti_affinity_holders(self, namespace: str) -> Iterable[RunState]:
        anti = self._anti.get(namespace)
        return () if anti is None else anti.values()


def _has_required_anti(st: RunState) -> bool:
    affinity = st.run.spec.affinity
    return bool(affinity and affinity.run_anti_affinity and affinity.run_anti_affinity.required)
