"""The pure scheduling core: events in, `Plan` out. No I/O, no clock, no trio.

Build one with `kruntimes.new_scheduler()` (plugins included) or
`Scheduler(policy)` with your own `Policy`.
"""

from kruntimes.core.config import SchedulerConfig
from kruntimes.core.decisions import (
    Bind,
    Decision,
    Plan,
    Requeue,
    RunKey,
    Terminate,
    Wait,
    WaitReason,
)
from kruntimes.core.events import (
    Event,
    PodDeleted,
    PodHeartbeat,
    PodUpserted,
    QueueDeleted,
    QueueUpserted,
    RunDeleted,
    RunUpserted,
)
from kruntimes.core.policy import (
    Availability,
    ClusterView,
    PodOrder,
    Policy,
    PreFilterResult,
    ScoreResult,
)
from kruntimes.core.retry import (
    MAX_BACKOFF_SECONDS,
    RetryDecision,
    backoff_delay,
    decide_retry,
    reason_is_retryable,
)
from kruntimes.core.scheduler import Scheduler, SchedulerStatistics
from kruntimes.core.stale import StaleVerdict, stale_verdict, unhealthy_since
from kruntimes.core.state import PodKey, PodState, PoolKey, RunState

__all__ = [
    "MAX_BACKOFF_SECONDS",
    "Availability",
    "Bind",
    "ClusterView",
    "Decision",
    "Event",
    "Plan",
    "PodDeleted",
    "PodHeartbeat",
    "PodKey",
    "PodOrder",
    "PodState",
    "PodUpserted",
    "Policy",
    "PoolKey",
    "PreFilterResult",
    "QueueDeleted",
    "QueueUpserted",
    "Requeue",
    "RetryDecision",
    "RunDeleted",
    "RunKey",
    "RunState",
    "RunUpserted",
    "Scheduler",
    "SchedulerConfig",
    "SchedulerStatistics",
    "ScoreResult",
    "StaleVerdict",
    "Terminate",
    "Wait",
    "WaitReason",
    "backoff_delay",
    "decide_retry",
    "reason_is_retryable",
    "stale_verdict",
    "unhealthy_since",
]
