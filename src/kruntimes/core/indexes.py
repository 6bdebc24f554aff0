"""Indexes over the Runs that hold capacity, for affinity queries in O(matches)."""

from __future__ import annotations

from collections.abc import Iterable

from kruntimes.core.state import PodState, RunState
from kruntimes.model import LabelSelector

_LabelIndex = dict[tuple[str, str], dict[str, int]]
"""`(label key, value) -> {pod name: how many holding Runs there carry it}`."""


class HolderIndex:
    """Per namespace: holding Runs, a label index of them, and those with anti-affinity.

    The holder and label indexes are a pure function of the Runs that hold
    capacity (`RunState.holds`) and their labels, so they are built on the
    first query that needs them and maintained from then on: a scheduler whose
    plugins never ask which Pods host which Runs never pays for them. The
    anti-affinity index is always maintained (it is empty without such Runs).
    """

    _pods: dict[tuple[str, str], PodState]
    _runs: dict[tuple[str, str], RunState]

    def __init__(self) -> None:
        self._holders: dict[str, dict[tuple[str, str], RunState]] = {}
        self._labels: dict[str, _LabelIndex] = {}
        self._live = False
        self._anti: dict[str, dict[tuple[str, str], RunState]] = {}

    def _index_holder(self, st: RunState) -> None:
        key = st.key
        if self._live:
            holders = self._holders.get(key[0])
            if holders is None:
                holders = self._holders[key[0]] = {}
            holders[key] = st
            self._index_labels(st)
        affinity = st.run.spec.affinity
        if affinity is not None and _has_required_anti(st):
            self._anti.setdefault(key[0], {})[key] = st

    def _go_live(self) -> None:
        self._live = True
        for st in self._runs.values():
            if st.holds:
                self._holders.setdefault(st.key[0], {})[st.key] = st
                self._index_labels(st)

    def _index_labels(self, st: RunState) -> None:
        labels = st.run.metadata.labels
        if labels:
            index = self._labels.setdefault(st.key[0], {})
            pod = st.pod or ""
            for item in labels.items():
                counts = index.setdefault(item, {})
                counts[pod] = counts.get(pod, 0) + 1

    def _unindex_holder(self, st: RunState) -> None:
        namespace = st.key[0]
        if self._live:
            holders = self._holders.get(namespace)
            if holders is None or holders.pop(st.key, None) is None:
                return
        labels = st.run.metadata.labels if self._live else None
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
        if self._anti:
            anti = self._anti.get(namespace)
            if anti is not None:
                anti.pop(st.key, None)

    def pods_hosting(self, namespace: str, selector: LabelSelector) -> frozenset[str]:
        if not self._live:
            self._go_live()
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
