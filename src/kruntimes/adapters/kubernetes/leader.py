"""Leader election on a `coordination.k8s.io/v1` Lease: two controller replicas never both lead.

The protocol is client-go's `leaderelection` with a Lease lock:

- Every `retry_period` a candidate reads the Lease and `decide`s: create it
  (none yet), take it over (its holder is empty, or `renewTime +
  leaseDurationSeconds < now`), renew it (it is ours), or wait (someone else
  holds an unexpired lease). Writes are a POST (create) or a PUT carrying the
  `metadata.resourceVersion` just read, so of two racing candidates one wins
  and the other gets `AlreadyExists` or `Conflict` and reads again.
- The leader runs `lead()` and renews every `retry_period`. If no renewal has
  succeeded for `renew_deadline` -- counted from the moment the last
  successful attempt *started*, i.e. before the `renewTime` it wrote was
  read from the clock -- `lead()` is cancelled and `run` raises
  `LostLeadership`: the process should exit, as client-go's callers do. If a
  renewal finds the Lease held by someone else (or gone), leadership is lost
  at once.
- When `lead()` returns, or the elector is cancelled while leading, the Lease
  is released (holder cleared, `leaseDurationSeconds: 1`), so a standby takes
  over within one `retry_period` instead of waiting for the lease to expire.

Safety rule: a leader stops leading *before* its lease can expire from the
others' point of view. Others consider the lease live until `renewTime +
leaseDurationSeconds`; the leader cancels `lead()` at `renewTime +
renew_deadline` at the latest, and `LeaseConfig` enforces `renew_deadline <
lease_duration` (the written duration is rounded *up* to whole seconds). The
difference is the time `lead()` has to finish its cancellation. This holds
when the replicas' clocks agree (to well under that difference), as in
client-go; unlike client-go, expiry is judged from the Lease's `renewTime`,
not from when the candidate last saw the record change.

`KubeApi` calls run in worker threads and cannot be interrupted: a request
stuck in `KubeApi`'s retries (at most `RETRY_GIVE_UP_AFTER`) does not delay
the cancellation of `lead()` -- a separate watchdog does that -- but it does
delay `run`'s return (and bounds the release only between requests).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from enum import Enum
from typing import Any

import structlog
import trio
from attrs import frozen

from kruntimes.adapters.kubernetes.api import KubeApi
from kruntimes.adapters.kubernetes.lease import (
    DEFAULT_LEASE_NAME,
    Action,
    Decision,
    LeaseConfig,
    decide,
    default_identity,
    format_micro_time,
    lease_expiry,
    lease_holder,
    lease_transitions,
    parse_micro_time,
    release_spec,
)
from kruntimes.store.port import (
    AlreadyExists,
    Conflict,
    Invalid,
    NotFound,
    StoreError,
)

__all__ = [
    "DEFAULT_LEASE_NAME",
    "Action",
    "Decision",
    "ElectionStatistics",
    "LeaderElector",
    "LeaseConfig",
    "LostLeadership",
    "decide",
    "default_identity",
    "format_micro_time",
    "lease_expiry",
    "lease_holder",
    "lease_transitions",
    "parse_micro_time",
    "release_spec",
]

log = structlog.get_logger("kruntimes.leader")

LEASE_API = "/apis/coordination.k8s.io/v1"
RELEASE_WITHIN = 5.0
"""Seconds a release may take (shielded from cancellation) before the elector gives up on it."""
_EXPIRY_MARGIN = 0.001
"""Retry this long after a lease's expiry: it is expired only once `now` is strictly past it."""


class LostLeadership(Exception):
    """`LeaderElector.run` could not renew its lease within `renew_deadline`, or saw it taken.

    `lead()` was cancelled (and has finished) before this is raised, and before
    the lease could expire in the other replicas' view. The lease is not
    released. The process should exit and start again as a standby, like
    client-go's controllers do: whatever state `lead()` built is suspect.
    """


# -- the elector ------------------------------------------------------------------


@frozen
class ElectionStatistics:
    transitions: int
    """Times this elector saw the lease's holder become a different (non-empty) identity."""
    acquisitions: int
    """Times this elector became the leader (created or took over the lease)."""
    renewals: int
    """Successful renewals while leading."""
    failures: int
    """Attempts that failed: API errors, and races lost with `AlreadyExists` or `Conflict`."""
    holder: str
    """The holder this elector saw last (`""` for none)."""


class _Outcome(Enum):
    HOLDING = "holding"
    HELD_BY_OTHER = "held-by-other"
    RACE_LOST = "race-lost"


class LeaderElector:
    """Competes for one Lease; `run(lead)` runs `lead()` only while this replica holds it.

    `clock` is the wall clock written into and compared with the Lease's
    times; deadlines use trio's clock.
    """

    def __init__(
        self, api: KubeApi, config: LeaseConfig, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._api = api
        self.config = config
        self._clock = clock
        self._path = f"{LEASE_API}/namespaces/{config.namespace}/leases/{config.name}"
        self._lease: dict[str, Any] | None = None
        """The lease as last read or written."""
        self._holding = False
        """The lease as last written by this elector names it (it may have to release it)."""
        self._leader = False
        self._became_leader = trio.Event()
        self._running = False
        self._retry_at: float | None = None
        self._observed = ""
        self._last_holder = ""
        self._transitions = 0
        self._acquisitions = 0
        self._renewals = 0
        self._failures = 0

    @property
    def identity(self) -> str:
        return self.config.identity

    @property
    def is_leader(self) -> bool:
        """True while `lead()` may run: from acquisition until its end, or the loss of the lease."""
        return self._leader

    def statistics(self) -> ElectionStatistics:
        return ElectionStatistics(
            transitions=self._transitions,
            acquisitions=self._acquisitions,
            renewals=self._renewals,
            failures=self._failures,
            holder=self._observed,
        )

    async def wait_leading(self) -> None:
        """Return once this replica leads (at once if it does)."""
        while not self._leader:
            await self._became_leader.wait()

    async def run(self, lead: Callable[[], Awaitable[None]]) -> None:
        """Acquire the lease, run `lead()` while renewing it, and release it when `lead()` returns.

        Returns when `lead()` returns (the lease released). Raises `LostLeadership`
        (after cancelling `lead()`) when the lease could not be renewed within
        `renew_deadline` or was taken. Cancelling `run` cancels `lead()` and
        releases the lease. An exception from `lead()` releases it and propagates.
        """
        if self._running:
            raise RuntimeError("LeaderElector.run is already running")
        self._running = True
        lost = False
        try:
            deadline = await self._acquire()
            lost = await self._lead(lead, deadline)
        finally:
            self._set_leader(False)
            try:
                if self._holding and not lost:
                    await self._release()
            finally:
                self._running = False
        if lost:
            raise LostLeadership(
                f"{self.identity} lost lease {self.config.namespace}/{self.config.name}"
            )

    # -- internals ----------------------------------------------------------------

    async def _acquire(self) -> float:
        """Try every `retry_period` until this replica holds the lease; the renew deadline."""
        period = self.config.retry_period
        while True:
            started = trio.current_time()
            outcome = await self._attempt(leading=False)
            if outcome is _Outcome.HOLDING:
                self._acquisitions += 1
                self._set_leader(True)
                log.info(
                    "acquired leadership",
                    lease=self.config.name,
                    namespace=self.config.namespace,
                    identity=self.identity,
                    transitions=lease_transitions(self._lease),
                )
                return started + self.config.renew_deadline
            delay = period
            if outcome is _Outcome.HELD_BY_OTHER and self._retry_at is not None:
                until_expiry = max(self._retry_at - self._clock(), 0.0) + _EXPIRY_MARGIN
                delay = min(period, until_expiry)
            await trio.sleep(delay)

    async def _lead(self, lead: Callable[[], Awaitable[None]], deadline: float) -> bool:
        """Run `lead()` until it returns (False) or the lease is lost (True, `lead()` cancelled)."""
        failure: Exception | None = None
        lost = False
        async with trio.open_nursery() as nursery:

            async def leading() -> None:
                nonlocal failure
                try:
                    await lead()
                except Exception as error:  # re-raised bare, not in an ExceptionGroup
                    failure = error
                nursery.cancel_scope.cancel()

            watchdog = trio.CancelScope(deadline=deadline)
            nursery.start_soon(self._keep_renewing, watchdog)
            nursery.start_soon(leading)
            with watchdog:
                await trio.sleep_forever()
            # The deadline passed without renewal, or the lease was seen taken.
            lost = True
            self._set_leader(False)
            log.warning(
                "lost leadership: cancelling lead()",
                lease=self.config.name,
                namespace=self.config.namespace,
                identity=self.identity,
                holder=self._observed,
            )
            nursery.cancel_scope.cancel()
        if failure is not None:
            raise failure
        return lost

    async def _keep_renewing(self, watchdog: trio.CancelScope) -> None:
        """Renew every `retry_period`; push the watchdog's deadline on success, fire it on loss."""
        while True:
            await trio.sleep(self.config.retry_period)
            started = trio.current_time()
            try:
                outcome = await self._attempt(leading=True)
            except StoreError as error:
                self._failures += 1
                log.warning("lease renewal failed", lease=self.config.name, error=str(error))
                continue
            if outcome is _Outcome.HOLDING:
                self._renewals += 1
                watchdog.deadline = max(watchdog.deadline, started + self.config.renew_deadline)
            elif outcome is _Outcome.HELD_BY_OTHER:
                watchdog.cancel()
                return

    async def _attempt(self, *, leading: bool) -> _Outcome:
        """Read the lease and act on `decide`. While leading, only a renewal keeps leadership.

        Failures other than lost races raise while leading and are counted and
        logged while acquiring (`Invalid` raises: it is a bug or a bad name).
        """
        try:
            try:
                lease: dict[str, Any] | None = await self._api.request("GET", self._path)
            except NotFound:
                lease = None
            self._lease = lease
            self._observe(lease_holder(lease))
            decision = decide(lease, self.identity, self._clock(), self.config.lease_seconds)
            if decision.holder != self.identity:
                self._holding = False
            if leading and decision.action is not Action.RENEW:
                return _Outcome.HELD_BY_OTHER  # taken, released or deleted behind our back
            if decision.action is Action.WAIT:
                self._retry_at = decision.retry_at
                return _Outcome.HELD_BY_OTHER
            assert decision.spec is not None
            written = await self._write(lease, decision.spec)
        except (AlreadyExists, Conflict) as error:
            self._failures += 1
            log.debug("lost a race for the lease", lease=self.config.name, error=str(error))
            return _Outcome.RACE_LOST
        except Invalid:
            raise
        except StoreError as error:
            if leading:
                raise
            self._failures += 1
            log.warning("cannot acquire the lease", lease=self.config.name, error=str(error))
            return _Outcome.RACE_LOST
        self._lease = written
        self._holding = True
        self._observe(self.identity)
        return _Outcome.HOLDING

    async def _write(self, lease: dict[str, Any] | None, spec: Mapping[str, Any]) -> Any:
        if lease is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.config.name, "namespace": self.config.namespace},
                "spec": dict(spec),
            }
            collection = f"{LEASE_API}/namespaces/{self.config.namespace}/leases"
            return await self._api.request("POST", collection, body=body)
        # The read metadata carries resourceVersion: a concurrent write makes this a Conflict.
        return await self._api.request("PUT", self._path, body={**lease, "spec": dict(spec)})

    async def _release(self) -> None:
        """Clear the holder so a standby takes over within its `retry_period`.

        Shielded from cancellation and bounded by `RELEASE_WITHIN` (between
        requests: a request in flight is waited for).
        """
        with trio.move_on_after(RELEASE_WITHIN, shield=True) as scope:
            lease = self._lease
            for _ in range(3):
                if lease is None or lease_holder(lease) != self.identity:
                    break
                spec = release_spec(lease.get("spec") or {}, self._clock())
                try:
                    self._lease = await self._api.request(
                        "PUT", self._path, body={**lease, "spec": spec}
                    )
                except Conflict:
                    try:
                        lease = await self._api.request("GET", self._path)
                    except NotFound:
                        lease = None
                    continue
                except StoreError as error:
                    log.warning(
                        "cannot release the lease", lease=self.config.name, error=str(error)
                    )
                    break
                log.info(
                    "released leadership",
                    lease=self.config.name,
                    namespace=self.config.namespace,
                    identity=self.identity,
                )
                break
        if scope.cancelled_caught:
            log.warning("gave up releasing the lease", lease=self.config.name)
        self._holding = False

    def _set_leader(self, leader: bool) -> None:
        self._leader = leader
        if leader:
            self._became_leader.set()
        elif self._became_leader.is_set():
            self._became_leader = trio.Event()

    def _observe(self, holder: str) -> None:
        if holder and holder != self._last_holder:
            self._transitions += 1
            self._last_holder = holder
        self._observed = holder
