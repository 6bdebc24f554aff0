"""Label selectors match as Kubernetes selectors do."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruntimes.model import (
    Affinity,
    LabelSelector,
    LabelSelectorRequirement,
    RunAffinityRules,
    RunAffinityTerm,
    SelectorOperator,
    WeightedRunAffinityTerm,
)

IN, NOT_IN = SelectorOperator.IN, SelectorOperator.NOT_IN
EXISTS, MISSING = SelectorOperator.EXISTS, SelectorOperator.DOES_NOT_EXIST


@pytest.mark.parametrize(
    ("requirement", "labels", "matches"),
    [
        (LabelSelectorRequirement("app", IN, ["web", "api"]), {"app": "web"}, True),
        (LabelSelectorRequirement("app", IN, ["web"]), {"app": "db"}, False),
        (LabelSelectorRequirement("app", IN, ["web"]), {}, False),
        (LabelSelectorRequirement("app", NOT_IN, ["web"]), {"app": "db"}, True),
        (LabelSelectorRequirement("app", NOT_IN, ["web"]), {"app": "web"}, False),
        (LabelSelectorRequirement("app", NOT_IN, ["web"]), {}, True),
        (LabelSelectorRequirement("app", EXISTS), {"app": ""}, True),
        (LabelSelectorRequirement("app", EXISTS), {"tier": "x"}, False),
        (LabelSelectorRequirement("app", MISSING), {"tier": "x"}, True),
        (LabelSelectorRequirement("app", MISSING), {"app": "web"}, False),
    ],
)
def test_requirements(
    requirement: LabelSelectorRequirement, labels: dict[str, str], matches: bool
) -> None:
    assert requirement.matches(labels) is matches


def test_a_selector_needs_every_label_and_every_expression() -> None:
    selector = LabelSelector(
        match_labels={"app": "web", "tier": "front"},
        match_expressions=[LabelSelectorRequirement("canary", MISSING)],
    )
    assert selector.matches({"app": "web", "tier": "front", "zone": "a"})
    assert not selector.matches({"app": "web"})
    assert not selector.matches({"app": "web", "tier": "front", "canary": "1"})
    assert not selector.is_empty


labels = st.dictionaries(st.sampled_from(["app", "tier", "zone"]), st.sampled_from("abc"))


@given(labels)
def test_the_empty_selector_matches_everything(pod_labels: dict[str, str]) -> None:
    assert LabelSelector().is_empty
    assert LabelSelector().matches(pod_labels)


@given(labels, st.sampled_from(["app", "tier"]), st.lists(st.sampled_from("abc"), min_size=1))
def test_in_and_not_in_are_complements(
    pod_labels: dict[str, str], key: str, values: list[str]
) -> None:
    within = LabelSelectorRequirement(key, IN, values).matches(pod_labels)
    outside = LabelSelectorRequirement(key, NOT_IN, values).matches(pod_labels)
    assert within != outside


def test_affinity_is_empty_without_terms() -> None:
    assert Affinity().is_empty
    assert Affinity(run_affinity=RunAffinityRules()).is_empty
    term = RunAffinityTerm(LabelSelector({"app": "web"}))
    assert not Affinity(run_anti_affinity=RunAffinityRules(required=[term])).is_empty
    weighted = WeightedRunAffinityTerm(10, term)
    assert not Affinity(run_affinity=RunAffinityRules(preferred=[weighted])).is_empty
    assert term.topology_key == "kruntimes.io/runtime-pod"
