"""Run affinity and anti-affinity over the `kruntimes.io/runtime-pod` topology."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from attrs import field, frozen

from kruntimes.model import converters as convert
from kruntimes.model.meta import _frozen_map

RUNTIME_POD_TOPOLOGY = "kruntimes.io/runtime-pod"


class SelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


@frozen
class LabelSelectorRequirement:
    key: str
    operator: SelectorOperator
    values: tuple[str, ...] = field(default=(), converter=convert.strings)

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op is SelectorOperator.EXISTS:
            return self.key in labels
        if op is SelectorOperator.DOES_NOT_EXIST:
            return self.key not in labels
        present = self.key in labels and labels[self.key] in self.values
        return present if op is SelectorOperator.IN else not present


@frozen
class LabelSelector:
    """A Kubernetes label selector; an empty selector matches everything."""

    match_labels: Mapping[str, str] = field(factory=dict, converter=_frozen_map)
    match_expressions: tuple[LabelSelectorRequirement, ...] = field(
        default=(), converter=convert.requirements
    )

    def matches(self, labels: Mapping[str, str]) -> bool:
        for key, value in self.match_labels.items():
            if labels.get(key) != value:
                return False
        return all(req.matches(labels) for req in self.match_expressions)

    @property
    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions


@frozen
class RunAffinityTerm:
    label_selector: LabelSelector
    topology_key: str = RUNTIME_POD_TOPOLOGY


@frozen
class WeightedRunAffinityTerm:
    weight: int
    run_affinity_term: RunAffinityTerm


@frozen
class RunAffinityRules:
    """Required and preferred terms of one direction (affinity or anti-affinity)."""

    required: tuple[RunAffinityTerm, ...] = field(default=(), converter=convert.terms)
    preferred: tuple[WeightedRunAffinityTerm, ...] = field(
        default=(), converter=convert.weighted_terms
    )


@frozen
class Affinity:
    run_affinity: RunAffinityRules | None = None
    run_anti_affinity: RunAffinityRules | None = None

    @property
    def is_empty(self) -> bool:
        return not any(
            rules and (rules.required or rules.preferred)
            for rules in (self.run_affinity, self.run_anti_affinity)
        )
