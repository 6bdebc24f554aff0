"""What a simulation runs: pools, failures and the knobs around the real scheduling core."""

from __future__ import annotations

from collections.abc import Mapping

from attrs import field, frozen

from kruntimes.core import SchedulerConfig
from kruntimes.model import DEFAULT_POD_CAPACITY, RetryPolicy, RunQueue
from kruntimes.sim.distributions import POD_STARTUP_DEFAULT, Constant, Distribution

DISPATCH_DEFAULT = Constant(0.002)
"""Bind to start: a status write, its watch event and the agent's claim (embedded engine)."""
AGENT_RESTART_DEFAULT = Constant(10.0)
REACTION_DEFAULT = Constant(0.0005)
"""A change to the cycle that sees it: the embedded engine's idle submit-to-bind median
(0.53 ms, benchmarks/sim_validation.py). Changes meanwhile join that cycle."""


@frozen
class PoolSpec:
    """A warm pool: `replicas` Pods of `runtime`, each with `capacity`.

    With `max_replicas` above `replicas` the pool grows when Runs wait (a new
    Pod is ready after a `startup` sample) and shrinks back to `replicas`
    after Pods stay idle for `scale_down_after` seconds.
    """

    runtime: str
    replicas: int
    capacity: Mapping[str, int] = field(factory=lambda: dict(DEFAULT_POD_CAPACITY))
    labels: Mapping[str, str] = field(factory=dict)
    max_replicas: int | None = None
    target_utilisation: float = 0.8
    scale_down_after: float = 60.0
    startup: Distribution = POD_STARTUP_DEFAULT

    def __attrs_post_init__(self) -> None:
        if self.replicas < 0:
            raise ValueError(f"pool {self.runtime}: replicas must be >= 0, not {self.replicas}")
        if self.max_replicas is not None and self.max_replicas < self.replicas:
            raise ValueError(
                f"pool {self.runtime}: max_replicas ({self.max_replicas}) is below "
                f"replicas ({self.replicas})"
            )
        if not 0.0 < self.target_utilisation <= 1.0:
            raise ValueError(f"pool {self.runtime}: target_utilisation must be in (0, 1]")

    @property
    def slots(self) -> int:
        """Runs one Pod holds at once (its `runs` capacity; 1 when it has none)."""
        return int(self.capacity.get("runs", 1))

    @property
    def grows(self) -> bool:
        return self.max_replicas is not None and self.max_replicas > self.replicas


@frozen
class FailureModel:
    """What goes wrong, as rates per Pod-hour and a probability per attempt.

    A lost Pod takes its executions with it and is replaced after a startup
    sample; a crashed agent stops heartbeating for `agent_restart` and its
    executions are lost (the core reaps them when it notices, or the
    restarted agent reports them); a failed attempt is retried by the Run's
    retry policy, as the agent would.
    """

    pod_loss_per_hour: float = 0.0
    agent_crash_per_hour: float = 0.0
    agent_restart: Distribution = AGENT_RESTART_DEFAULT
    run_failure: float = 0.0

    @property
    def any(self) -> bool:
        return bool(self.pod_loss_per_hour or self.agent_crash_per_hour or self.run_failure)


@frozen
class SimSetup:
    """Everything around the arrivals: pools, queues, the core's config and plugins.

    `dispatch` is the time from a bind to the agent starting the Run (the
    status write, the watch event and the agent's claim; measure it on your
    engine: `benchmarks/sim_validation.py` calibrates it). `reaction` is the
    time from a change (a Run created or ended, a Pod added or lost) to the
    scheduling cycle that sees it (the store's watch event, the loop's
    wake-up; default: the embedded engine's, 0.5 ms); changes meanwhile join
    that cycle. `cycle_interval` spaces cycles (0 with a zero `reaction`: a
    cycle at every instant with news, an idealised engine).
    """

    pools: tuple[PoolSpec, ...]
    queues: tuple[RunQueue, ...] = ()
    scheduler: SchedulerConfig = field(factory=SchedulerConfig)
    plugins: tuple[object, ...] = ()
    entry_points: bool = False
    """Also load the plugins installed as `kruntimes` entry points, as an engine does. Off by
    default: a scenario's result should not depend on what happens to be installed."""
    dispatch: Distribution = DISPATCH_DEFAULT
    cycle_interval: float = 0.0
    reaction: Distribution = REACTION_DEFAULT
    retry: RetryPolicy = field(factory=RetryPolicy)
    failures: FailureModel = field(factory=FailureModel)
    namespace: str = "default"
    autoscale_every: float = 1.0
