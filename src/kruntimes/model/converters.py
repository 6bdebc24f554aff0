"""Typed converters for the model's tuple fields.

attrs converters must be concrete for mypy to type `__init__` and `evolve`:
a generic `tuple` converter loses the element type, so each element type
gets its own one-liner. They accept any iterable, so callers may pass lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kruntimes.model.affinity import (
        LabelSelectorRequirement,
        RunAffinityTerm,
        WeightedRunAffinityTerm,
    )
    from kruntimes.model.meta import Condition
    from kruntimes.model.run import ArtifactRef, EnvVar


def strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def mappings(values: Iterable[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
    return tuple(values)


def conditions(values: Iterable[Condition]) -> tuple[Condition, ...]:
    return tuple(values)


def requirements(
    values: Iterable[LabelSelectorRequirement],
) -> tuple[LabelSelectorRequirement, ...]:
    return tuple(values)


def terms(values: Iterable[RunAffinityTerm]) -> tuple[RunAffinityTerm, ...]:
    return tuple(values)


def weighted_terms(
    values: Iterable[WeightedRunAffinityTerm],
) -> tuple[WeightedRunAffinityTerm, ...]:
    return tuple(values)


def env_vars(values: Iterable[EnvVar]) -> tuple[EnvVar, ...]:
    return tuple(values)


def artifact_refs(values: Iterable[ArtifactRef]) -> tuple[ArtifactRef, ...]:
    return tuple(values)
