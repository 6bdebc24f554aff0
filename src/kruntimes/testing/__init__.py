"""The policy testing kit: builders, a harness, hypothesis strategies, a stateful model test,
contract suites and pytest fixtures.

A policy author property-tests a placement plugin in a few lines::

    from kruntimes.testing import PlacementPolicyContract

    class TestMyPolicy(PlacementPolicyContract):
        def plugins(self):
            return [MyPolicy()]

Builders and the harness need only kruntimes; strategies, the state machine
and the contract suite need hypothesis (and pytest), installed with the
`kruntimes[testing]` extra, and are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kruntimes.testing.builders import (
    DEFAULT_NAMESPACE,
    DEFAULT_RUNTIME,
    EPOCH,
    affinity,
    condition,
    make_pod,
    make_queue,
    make_run,
    retry_policy,
    selector,
    term,
    timestamp,
    with_condition,
)
from kruntimes.testing.clock import VirtualClock
from kruntimes.testing.harness import (
    ApplyResult,
    Cluster,
    CycleCall,
    Harness,
    Unreserve,
    decisions_for,
    default_scheduler_factory,
    replay,
)
from kruntimes.testing.invariants import InvariantViolation
from kruntimes.testing.reference import ReferenceModel
from kruntimes.testing.store import FakeStore, landed

if TYPE_CHECKING:
    from kruntimes.testing import strategies
    from kruntimes.testing.admission_contract import AdmissionPolicyContract
    from kruntimes.testing.contract import PlacementPolicyContract
    from kruntimes.testing.stateful import SchedulerMachine, machine_test_case

_LAZY = {
    "strategies": ("kruntimes.testing.strategies", None),
    "AdmissionPolicyContract": (
        "kruntimes.testing.admission_contract",
        "AdmissionPolicyContract",
    ),
    "PlacementPolicyContract": ("kruntimes.testing.contract", "PlacementPolicyContract"),
    "SchedulerMachine": ("kruntimes.testing.stateful", "SchedulerMachine"),
    "machine_test_case": ("kruntimes.testing.stateful", "machine_test_case"),
}


def __getattr__(name: str) -> Any:
    """Import the hypothesis-based parts on first use, so `import kruntimes.testing` stays light."""
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib

    module = importlib.import_module(module_name)
    return module if attr is None else getattr(module, attr)


__all__ = [
    "DEFAULT_NAMESPACE",
    "DEFAULT_RUNTIME",
    "EPOCH",
    "AdmissionPolicyContract",
    "ApplyResult",
    "Cluster",
    "CycleCall",
    "FakeStore",
    "Harness",
    "InvariantViolation",
    "PlacementPolicyContract",
    "ReferenceModel",
    "SchedulerMachine",
    "Unreserve",
    "VirtualClock",
    "affinity",
    "condition",
    "decisions_for",
    "default_scheduler_factory",
    "landed",
    "machine_test_case",
    "make_pod",
    "make_queue",
    "make_run",
    "replay",
    "retry_policy",
    "selector",
    "strategies",
    "term",
    "timestamp",
    "with_condition",
]
