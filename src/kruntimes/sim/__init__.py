"""Discrete-event simulation of kruntimes scheduling in virtual time (what-if studies).

The production core and plugins decide; arrivals, durations, dispatch, Pod start-up and
failures are sampled. See docs/simulator.md. Plots live in `kruntimes.sim.plots` (they need
the `sim` extra: matplotlib).
"""

from kruntimes.sim.arrivals import (
    Arrival,
    Burst,
    Diurnal,
    OnOff,
    Periodic,
    Poisson,
    Workload,
    merge,
    scenario_arrivals,
)
from kruntimes.sim.baseline import one_pod_per_run
from kruntimes.sim.distributions import (
    POD_STARTUP_DEFAULT,
    Constant,
    Distribution,
    Empirical,
    Exponential,
    LogNormal,
    Normal,
    Percentiles,
    Uniform,
)
from kruntimes.sim.engine import Simulation
from kruntimes.sim.metrics import Metrics
from kruntimes.sim.recommend import Recommendation, recommend
from kruntimes.sim.report import compare_table, summary_table
from kruntimes.sim.results import SimResult
from kruntimes.sim.runner import ScenarioOutcome, run_scenario
from kruntimes.sim.scenario import Scenario, ScenarioError, load_scenario
from kruntimes.sim.setup import FailureModel, PoolSpec, SimSetup
from kruntimes.sim.traces import TraceWorkload

__all__ = [
    "POD_STARTUP_DEFAULT",
    "Arrival",
    "Burst",
    "Constant",
    "Distribution",
    "Diurnal",
    "Empirical",
    "Exponential",
    "FailureModel",
    "LogNormal",
    "Metrics",
    "Normal",
    "OnOff",
    "Percentiles",
    "Periodic",
    "Poisson",
    "PoolSpec",
    "Recommendation",
    "Scenario",
    "ScenarioError",
    "ScenarioOutcome",
    "SimResult",
    "SimSetup",
    "Simulation",
    "TraceWorkload",
    "Uniform",
    "Workload",
    "compare_table",
    "load_scenario",
    "merge",
    "one_pod_per_run",
    "recommend",
    "run_scenario",
    "scenario_arrivals",
    "summary_table",
]
