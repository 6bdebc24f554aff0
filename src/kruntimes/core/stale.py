"""Stale-Run detection: a pure function of the binding, the Pod and `now`.

A Run holding capacity on a Pod that is gone, replaced (other UID), deleting
past its grace, or unhealthy past the threshold is stale: its execution is
presumed lost and it goes back to Pending (attempt + 1 when the policy
allows) or fails. A Run only `Scheduled` (never claimed) is unbound at once
when its Pod is gone or deleting: nothing ran, so no attempt is spent.
"""

from __future__ import annotations

from attrs import frozen

from kruntimes.model import FailureReason, Phase, RuntimePod


@frozen
class StaleVerdict:
    """`reason` if the Run is stale now; else when to look again (`recheck_at`), if ever."""

    reason: FailureReason | None
    message: str = ""
    recheck_at: float | None = None


FRESH = StaleVerdict(reason=None)


def stale_verdict(
    *,
    phase: Phase,
    assigned_uid: str | None,
    pod: RuntimePod | None,
    unhealthy_since: float | None,
    now: float,
    stale_after: float,
    terminating_grace: float,
    deleting_since: float | None = None,
) -> StaleVerdict:
    """Whether a Run in `phase` bound to `pod` (None: the Pod is gone) is stale at `now`.

    `unhealthy_since` is when the Pod was first seen not ready or without a
    fresh heartbeat (the caller tracks it); None means it looks healthy.
    `deleting_since` dates a deletion when the Pod carries no deletion time
    (the caller tracks when it first saw it deleting); without either, the
    grace period would restart at every look and never end.
    """
    if pod is None:
        return StaleVerdict(FailureReason.POD_GONE, "the Runtime Pod is gone")
    if assigned_uid and pod.uid and assigned_uid != pod.uid:
        return StaleVerdict(
            FailureReason.POD_GONE,
            f"the Runtime Pod was replaced (uid {pod.uid}, bound to {assigned_uid})",
        )
    if pod.deleting:
        since = pod.deletion_time if pod.deletion_time is not None else deleting_since
        if since is None:
            since = now
        due = since if phase is Phase.SCHEDULED else since + terminating_grace
        if now >= due:
            return StaleVerdict(FailureReason.POD_TERMINATING, "the Runtime Pod is terminating")
        return StaleVerdict(None, recheck_at=due)
    if unhealthy_since is not None:
        due = unhealthy_since + stale_after
        if now >= due:
            return StaleVerdict(
                FailureReason.POD_UNHEALTHY,
                f"the Runtime Pod has been unhealthy for {now - unhealthy_since:.0f}s",
            )
        return StaleVerdict(None, recheck_at=due)
    return FRESH


def unhealthy_since(
    pod: RuntimePod, now: float, heartbeat_fresh: float, first_seen_unready: float | None
) -> float | None:
    """When `pod` became unhealthy, or None if it is healthy at `now`.

    A stale heartbeat dates the trouble from the last heartbeat (so Runs are
    reaped `stale_after` seconds after the agent was last heard from); a Pod
    that is not ready, or never heartbeated, from when it was first seen so,
    or from its last heartbeat if that is earlier: whichever deadline comes
    first holds, and a new heartbeat re-evaluates the Pod anyway.
    """
    heartbeat = pod.heartbeat
    if not pod.ready or heartbeat is None:
        since = first_seen_unready if first_seen_unready is not None else now
        # the agent's silence counts too: if no heartbeat comes, that deadline is the earlier
        return since if heartbeat is None else min(since, heartbeat)
    if now - heartbeat > heartbeat_fresh:
        return heartbeat
    return None
