"""The pure part of leader election: the Lease's configuration, times and decisions.

No I/O: `decide` reads a Lease as the apiserver returns it and says what a
candidate does next (see `kruntimes.adapters.kubernetes.leader` for the
protocol and its safety rule).
"""

from __future__ import annotations

import math
import socket
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from attrs import field, frozen

from kruntimes.codec.timestamps import parse_timestamp

DEFAULT_LEASE_NAME = "kruntimes-controller"


# -- configuration ---------------------------------------------------------------


def default_identity() -> str:
    """`{hostname}_{8 hex digits}`: unique per process, readable in `kubectl get lease`."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


@frozen
class LeaseConfig:
    """Which Lease to compete for, as whom, and client-go's three durations (seconds).

    - `lease_duration`: how long others wait after the last renewal before taking over.
    - `renew_deadline`: how long the leader keeps leading without a successful renewal.
    - `retry_period`: the pause between attempts (to acquire, or to renew).

    `lease_duration > renew_deadline > retry_period > 0` must hold. `identity`
    must be unique among the replicas: `LeaseConfig.for_this_process(namespace)`
    generates one (`default_identity()`); `__init__` never does.
    """

    namespace: str
    name: str = DEFAULT_LEASE_NAME
    identity: str = ""
    lease_duration: float = field(default=15.0, kw_only=True)
    renew_deadline: float = field(default=10.0, kw_only=True)
    retry_period: float = field(default=2.0, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not self.identity:
            raise ValueError(
                "LeaseConfig.identity must not be empty: pass a unique one, or build the "
                "config with LeaseConfig.for_this_process(namespace)"
            )
        for field_name in ("namespace", "name"):
            if not getattr(self, field_name):
                raise ValueError(f"LeaseConfig.{field_name} must not be empty")
        durations = (self.lease_duration, self.renew_deadline, self.retry_period)
        if not all(math.isfinite(d) for d in durations) or not (
            self.lease_duration > self.renew_deadline > self.retry_period > 0
        ):
            raise ValueError(
                "LeaseConfig needs lease_duration > renew_deadline > retry_period > 0, got "
                f"lease_duration={self.lease_duration}, renew_deadline={self.renew_deadline}, "
                f"retry_period={self.retry_period}: the leader must stop leading (after "
                "renew_deadline without renewal) before others may take over (lease_duration)"
            )

    @classmethod
    def for_this_process(
        cls,
        namespace: str,
        name: str = DEFAULT_LEASE_NAME,
        *,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
    ) -> LeaseConfig:
        """A config whose identity is `default_identity()`: `{hostname}_{8 hex digits}`."""
        return cls(
            namespace,
            name,
            default_identity(),
            lease_duration=lease_duration,
            renew_deadline=renew_deadline,
            retry_period=retry_period,
        )

    @property
    def lease_seconds(self) -> int:
        """`leaseDurationSeconds` as written: whole seconds, rounded up (never shorter)."""
        return max(1, math.ceil(self.lease_duration))


# -- the pure part: timestamps and decisions --------------------------------------


def format_micro_time(at: float) -> str:
    """A `metav1.MicroTime`: RFC 3339 in UTC with exactly six fraction digits, as Go parses it."""
    moment = datetime.fromtimestamp(at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(text: str) -> float:
    """Seconds since the epoch; `ValueError` for anything but RFC 3339."""
    return parse_timestamp(text).timestamp()


class Action(StrEnum):
    CREATE = "create"
    """There is no Lease: POST one holding it."""
    TAKE_OVER = "take-over"
    """Someone else's lease expired, or nobody holds it: PUT it holding it."""
    RENEW = "renew"
    """It is ours: PUT it with a fresh `renewTime`."""
    WAIT = "wait"
    """Someone else holds an unexpired lease: try again by `retry_at`."""


@frozen
class Decision:
    action: Action
    holder: str
    """The holder as read (`""` for none or no Lease)."""
    spec: Mapping[str, Any] | None
    """The Lease spec to write; None for `WAIT`."""
    retry_at: float | None = None
    """For `WAIT`: when the holder's lease expires (the same clock as `now`)."""


def lease_holder(lease: Mapping[str, Any] | None) -> str:
    """The Lease's `holderIdentity`, `""` when nobody (or no Lease) holds it."""
    if lease is None:
        return ""
    holder = (lease.get("spec") or {}).get("holderIdentity")
    return holder if isinstance(holder, str) else ""


def lease_expiry(spec: Mapping[str, Any]) -> float | None:
    """`renewTime + leaseDurationSeconds` (`acquireTime` if never renewed); None if unknown.

    A missing duration counts as 0, an unreadable time as no time: such a
    lease proves nothing about a live holder, so it is expired.
    """
    stamp = spec.get("renewTime") or spec.get("acquireTime")
    if not isinstance(stamp, str):
        return None
    try:
        renewed = parse_micro_time(stamp)
    except ValueError:
        return None
    duration = spec.get("leaseDurationSeconds")
    if not isinstance(duration, int) or isinstance(duration, bool):
        duration = 0
    return renewed + duration


def decide(
    lease: Mapping[str, Any] | None, identity: str, now: float, lease_seconds: int
) -> Decision:
    """What `identity` should do about `lease` (a Lease dict, None if there is none) at `now`.

    The spec to write keeps fields it does not know, keeps `acquireTime` and
    `leaseTransitions` on renewal, and counts a transition on take-over.
    """
    stamp = format_micro_time(now)
    if lease is None:
        spec = _holding(identity, lease_seconds, acquired=stamp, renewed=stamp, transitions=0)
        return Decision(Action.CREATE, "", spec)
    old: Mapping[str, Any] = lease.get("spec") or {}
    holder = lease_holder(lease)
    transitions = old.get("leaseTransitions")
    if not isinstance(transitions, int) or isinstance(transitions, bool) or transitions < 0:
        transitions = 0
    if holder == identity:
        acquired = old.get("acquireTime")
        spec = _holding(
            identity,
            lease_seconds,
            acquired=acquired if isinstance(acquired, str) else stamp,
            renewed=stamp,
            transitions=transitions,
            old=old,
        )
        return Decision(Action.RENEW, holder, spec)
    expiry = lease_expiry(old)
    if holder and expiry is not None and not expiry < now:
        return Decision(Action.WAIT, holder, None, retry_at=expiry)
    spec = _holding(
        identity, lease_seconds, acquired=stamp, renewed=stamp, transitions=transitions + 1, old=old
    )
    return Decision(Action.TAKE_OVER, holder, spec)


def release_spec(spec: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The spec that gives a lease up: no holder, and expired one second after `now` anyway."""
    stamp = format_micro_time(now)
    return {
        **spec,
        "holderIdentity": "",
        "leaseDurationSeconds": 1,
        "acquireTime": stamp,
        "renewTime": stamp,
    }


def _holding(
    identity: str,
    lease_seconds: int,
    *,
    acquired: str,
    renewed: str,
    transitions: int,
    old: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        **(old or {}),
        "holderIdentity": identity,
        "leaseDurationSeconds": lease_seconds,
        "acquireTime": acquired,
        "renewTime": renewed,
        "leaseTransitions": transitions,
    }


def lease_transitions(lease: Mapping[str, Any] | None) -> int:
    """The Lease's `leaseTransitions` (0 when absent)."""
    if lease is None:
        return 0
    value = (lease.get("spec") or {}).get("leaseTransitions")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
