"""Leader election on a Lease: the pure decisions, the elector on virtual time, a real apiserver."""

from __future__ import annotations

import copy
import itertools
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from kruntimes.adapters.kubernetes.api import KubeApi
from kruntimes.adapters.kubernetes.leader import (
    Action,
    Decision,
    LeaderElector,
    LeaseConfig,
    LostLeadership,
    decide,
    format_micro_time,
    lease_expiry,
    parse_micro_time,
    release_spec,
)
from kruntimes.store.port import AlreadyExists, Conflict, NotFound, Unavailable
from kruntimes.testing.builders import EPOCH
from kruntimes.testing.kube_env import KubeTestEnv

NS = "ctl"
LEASES = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"


def stamp(at: float) -> str:
    return format_micro_time(at)


def lease(holder: str | None, renewed: float, seconds: int = 15, transitions: int = 0) -> Any:
    spec: dict[str, Any] = {
        "leaseDurationSeconds": seconds,
        "acquireTime": stamp(renewed - 100),
        "renewTime": stamp(renewed),
        "leaseTransitions": transitions,
    }
    if holder is not None:
        spec["holderIdentity"] = holder
    return {"metadata": {"name": "l", "resourceVersion": "7"}, "spec": spec}


# -- configuration -----------------------------------------------------------------


def test_config_defaults_are_client_go_s() -> None:
    config = LeaseConfig("ns", identity="me")
    assert (config.name, config.lease_duration, config.renew_deadline, config.retry_period) == (
        "kruntimes-controller",
        15.0,
        10.0,
        2.0,
    )
    assert LeaseConfig("ns", "other-lease", "me").name == "other-lease"


@pytest.mark.parametrize(
    ("lease_duration", "renew_deadline", "retry_period"),
    [(10, 10, 2), (10, 15, 2), (15, 2, 2), (15, 10, 0), (15, 10, -1), (math.inf, 10, 2)],
)
def test_config_rejects_unsafe_durations(
    lease_duration: float, renew_deadline: float, retry_period: float
) -> None:
    with pytest.raises(ValueError, match="lease_duration > renew_deadline > retry_period > 0"):
        LeaseConfig(
            "ns",
            identity="me",
            lease_duration=lease_duration,
            renew_deadline=renew_deadline,
            retry_period=retry_period,
        )


def test_config_needs_an_identity_and_for_this_process_makes_one() -> None:
    with pytest.raises(ValueError, match="for_this_process"):
        LeaseConfig("ns")
    a, b = LeaseConfig.for_this_process("ns"), LeaseConfig.for_this_process("ns", "x")
    assert re.fullmatch(r".+_[0-9a-f]{8}", a.identity)
    assert a.identity != b.identity
    assert (b.namespace, b.name) == ("ns", "x")


def test_written_duration_is_rounded_up() -> None:
    config = LeaseConfig("ns", identity="me", lease_duration=2.5, renew_deadline=2, retry_period=1)
    assert config.lease_seconds == 3


# -- micro time ------------------------------------------------------------------


def test_micro_time_has_exactly_six_fraction_digits() -> None:
    assert format_micro_time(EPOCH) == "2023-11-14T22:13:20.000000Z"
    assert format_micro_time(EPOCH + 0.123456) == "2023-11-14T22:13:20.123456Z"
    assert parse_micro_time("2026-11-27T23:51:12.123456Z") == pytest.approx(
        datetime(2026, 11, 27, 23, 51, 12, 123456, UTC).timestamp()
    )


@given(st.integers(min_value=0, max_value=4_000_000_000 * 10**6))
def test_micro_time_round_trips(micros: int) -> None:
    text = format_micro_time(micros / 1e6)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", text)
    assert round(parse_micro_time(text) * 1e6) == micros


# -- decisions ---------------------------------------------------------------------


def test_no_lease_creates_one() -> None:
    decision = decide(None, "me", EPOCH, 15)
    assert decision == Decision(
        Action.CREATE,
        "",
        {
            "holderIdentity": "me",
            "leaseDurationSeconds": 15,
            "acquireTime": stamp(EPOCH),
            "renewTime": stamp(EPOCH),
            "leaseTransitions": 0,
        },
    )


def test_a_held_lease_is_waited_for_until_it_expires() -> None:
    decision = decide(lease("other", EPOCH, 15), "me", EPOCH + 5, 15)
    assert (decision.action, decision.holder, decision.spec) == (Action.WAIT, "other", None)
    assert decision.retry_at == EPOCH + 15
    # Expired only strictly after renewTime + leaseDurationSeconds.
    assert decide(lease("other", EPOCH, 15), "me", EPOCH + 15, 15).action is Action.WAIT
    assert decide(lease("other", EPOCH, 15), "me", EPOCH + 15.001, 15).action is Action.TAKE_OVER


def test_an_expired_lease_is_taken_over_with_a_transition() -> None:
    old = lease("other", EPOCH, 15, transitions=4)
    old["spec"]["preferredHolder"] = "x"  # a field from a newer Kubernetes: kept
    decision = decide(old, "me", EPOCH + 20, 10)
    assert decision.action is Action.TAKE_OVER
    assert decision.holder == "other"
    assert decision.spec == {
        "holderIdentity": "me",
        "leaseDurationSeconds": 10,
        "acquireTime": stamp(EPOCH + 20),
        "renewTime": stamp(EPOCH + 20),
        "leaseTransitions": 5,
        "preferredHolder": "x",
    }


@pytest.mark.parametrize("holder", [None, ""])
def test_a_lease_without_holder_is_taken_over_at_once(holder: str | None) -> None:
    decision = decide(lease(holder, EPOCH, 15, transitions=2), "me", EPOCH + 1, 15)
    assert decision.action is Action.TAKE_OVER
    assert decision.spec is not None
    assert decision.spec["leaseTransitions"] == 3


def test_my_lease_is_renewed_keeping_acquire_time_and_transitions() -> None:
    mine = lease("me", EPOCH, 15, transitions=3)
    decision = decide(mine, "me", EPOCH + 2, 15)
    assert decision.action is Action.RENEW
    assert decision.spec == {
        **mine["spec"],
        "holderIdentity": "me",
        "renewTime": stamp(EPOCH + 2),
    }


@pytest.mark.parametrize(
    "broken",
    [
        {"renewTime": None, "acquireTime": None},
        {"renewTime": "yesterday", "acquireTime": None},
        {"leaseDurationSeconds": None},
    ],
)
def test_a_lease_proving_no_live_holder_is_expired(broken: Mapping[str, Any]) -> None:
    old = lease("other", EPOCH, 15)
    old["spec"].update(broken)
    old["spec"] = {k: v for k, v in old["spec"].items() if v is not None}
    assert decide(old, "me", EPOCH + 1, 15).action is Action.TAKE_OVER


def test_renew_time_missing_falls_back_to_acquire_time() -> None:
    old = lease("other", EPOCH, 15)
    del old["spec"]["renewTime"]  # acquireTime is EPOCH - 100
    assert lease_expiry(old["spec"]) == pytest.approx(EPOCH - 85)


def test_release_clears_the_holder_and_expires_in_a_second() -> None:
    spec = release_spec(lease("me", EPOCH, 15, transitions=2)["spec"], EPOCH + 3)
    assert spec == {
        "holderIdentity": "",
        "leaseDurationSeconds": 1,
        "acquireTime": stamp(EPOCH + 3),
        "renewTime": stamp(EPOCH + 3),
        "leaseTransitions": 2,
    }
    assert decide({"spec": spec}, "other", EPOCH + 3, 15).action is Action.TAKE_OVER


@given(
    holder=st.sampled_from([None, "", "me", "other"]),
    renewed_us=st.integers(min_value=0, max_value=10**15),
    seconds=st.integers(min_value=1, max_value=3600),
    offset_us=st.integers(min_value=-(10**10), max_value=10**10),
    transitions=st.integers(min_value=0, max_value=10**6),
    exists=st.booleans(),
)
def test_decide_properties(
    holder: str | None,
    renewed_us: int,
    seconds: int,
    offset_us: int,
    transitions: int,
    exists: bool,
) -> None:
    renewed = EPOCH + renewed_us / 1e6
    now = renewed + offset_us / 1e6
    read = lease(holder, renewed, seconds, transitions) if exists else None
    decision = decide(copy.deepcopy(read), "me", now, 7)
    if read is None:
        assert decision.action is Action.CREATE
        return
    expired = offset_us > seconds * 10**6
    if holder == "me":
        assert decision.action is Action.RENEW
    elif holder and not expired:
        if abs(offset_us - seconds * 10**6) > 1:  # float rounding at the very boundary
            assert decision.action is Action.WAIT
            assert decision.retry_at == pytest.approx(renewed + seconds, abs=1e-5)
        return
    elif abs(offset_us - seconds * 10**6) > 1 or not holder:
        assert decision.action is Action.TAKE_OVER
    if decision.action is Action.WAIT:
        return
    spec = decision.spec
    assert spec is not None
    assert (spec["holderIdentity"], spec["leaseDurationSeconds"]) == ("me", 7)
    assert spec["renewTime"] == stamp(now)
    taken = decision.action is Action.TAKE_OVER
    assert spec["leaseTransitions"] == transitions + taken
    assert spec["acquireTime"] == (stamp(now) if taken else read["spec"]["acquireTime"])


# -- the elector on virtual time (an in-memory Lease API) ----------------------------


class MemoryLeases:
    """Leases as the apiserver keeps them: POST fails on a taken name, PUT on a stale version."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.version = 0

    def handle(self, method: str, path: str, body: Any) -> Any:
        self.version += 1
        if method == "POST":
            path = f"{path}/{body['metadata']['name']}"
            if path in self.items:
                raise AlreadyExists(path)
        elif path not in self.items:
            raise NotFound(path)
        elif method == "GET":
            return copy.deepcopy(self.items[path])
        elif (
            body["metadata"].get("resourceVersion")
            != self.items[path]["metadata"]["resourceVersion"]
        ):
            raise Conflict(path)
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.items[path] = stored
        return copy.deepcopy(stored)

    def put_spec(self, name: str, **spec: Any) -> None:
        """Another writer changes the lease."""
        self.version += 1
        item = self.items[f"{LEASES}/{name}"]
        item["spec"].update(spec)
        item["metadata"]["resourceVersion"] = str(self.version)


class MemoryApi(KubeApi):
    """One replica's connection to `MemoryLeases`; `broken` makes every request `Unavailable`."""

    def __init__(self, leases: MemoryLeases) -> None:
        super().__init__(None)
        self.leases = leases
        self.broken = False

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        await trio.lowlevel.checkpoint()
        if self.broken:
            raise Unavailable(f"{method} {path}: connection refused")
        return self.leases.handle(method, path, body)


def virtual_wall() -> float:
    return EPOCH + trio.current_time()


def virtual_config(identity: str) -> LeaseConfig:
    return LeaseConfig(NS, identity=identity)  # 15 / 10 / 2 seconds, on a MockClock


def run_virtual(main: Callable[[], Awaitable[None]]) -> None:
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


class Recorder:
    """`lead()` functions that log when they lead, on trio's clock and the wall clock."""

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self.intervals: list[tuple[str, float, float]] = []
        self.stopped_at_wall: dict[str, float] = {}
        self.wall = wall

    def forever(self, identity: str) -> Callable[[], Awaitable[None]]:
        return self.lead_for(identity, math.inf)

    def lead_for(self, identity: str, seconds: float) -> Callable[[], Awaitable[None]]:
        async def lead() -> None:
            start = trio.current_time()
            try:
                await trio.sleep(seconds)  # the work a leader does
            finally:
                self.intervals.append((identity, start, trio.current_time()))
                self.stopped_at_wall[identity] = self.wall()

        return lead


def assert_no_overlap(intervals: list[tuple[str, float, float]]) -> None:
    ordered = sorted(intervals, key=lambda i: i[1])
    for (_, _, end), (_, start, _) in itertools.pairwise(ordered):
        assert end < start, ordered


def test_unrenewable_leader_stops_within_renew_deadline_before_its_lease_expires() -> None:
    leases = MemoryLeases()
    a_api, b_api = MemoryApi(leases), MemoryApi(leases)
    recorder = Recorder(virtual_wall)

    async def main() -> None:
        a = LeaderElector(a_api, virtual_config("a"), clock=virtual_wall)
        b = LeaderElector(b_api, virtual_config("b"), clock=virtual_wall)
        async with trio.open_nursery() as nursery:

            async def cut_a_off() -> None:
                await a.wait_leading()
                nursery.start_soon(b.run, recorder.forever("b"))
                await trio.sleep(5)  # virtual: after a's renewals at 2 and 4
                a_api.broken = True

            nursery.start_soon(cut_a_off)
            with pytest.raises(LostLeadership):
                await a.run(recorder.forever("a"))
            assert not a.is_leader
            stats = a.statistics()
            assert (stats.acquisitions, stats.renewals) == (1, 2)
            assert stats.failures >= 4  # at 6, 8, 10, 12
            await b.wait_leading()
            nursery.cancel_scope.cancel()

    run_virtual(main)
    (a_name, a_start, a_end), (b_name, b_start, _) = recorder.intervals
    assert (a_name, b_name) == ("a", "b")
    assert (a_start, a_end) == (0, 14)  # the renewal that started at 4, plus renew_deadline
    # a wrote renewTime = 4 with leaseDurationSeconds 15: b takes over only after 19.
    assert recorder.stopped_at_wall["a"] < EPOCH + 4 + 15
    assert 19 < b_start <= 19 + 2
    assert_no_overlap(recorder.intervals)


def test_a_leader_whose_lease_was_taken_stops_at_its_next_renewal() -> None:
    leases = MemoryLeases()
    recorder = Recorder(virtual_wall)

    async def main() -> None:
        a = LeaderElector(MemoryApi(leases), virtual_config("a"), clock=virtual_wall)
        async with trio.open_nursery() as nursery:

            async def intrude() -> None:
                await a.wait_leading()
                await trio.sleep(3)
                leases.put_spec("kruntimes-controller", holderIdentity="intruder")

            nursery.start_soon(intrude)
            with pytest.raises(LostLeadership):
                await a.run(recorder.forever("a"))
        assert a.statistics().holder == "intruder"

    run_virtual(main)
    [(_, start, end)] = recorder.intervals
    assert (start, end) == (0, 4)
    assert leases.items[f"{LEASES}/kruntimes-controller"]["spec"]["holderIdentity"] == "intruder"


def test_lead_returning_releases_the_lease() -> None:
    leases = MemoryLeases()

    async def main() -> None:
        a = LeaderElector(MemoryApi(leases), virtual_config("a"), clock=virtual_wall)
        await a.run(Recorder(virtual_wall).lead_for("a", 5))
        assert not a.is_leader
        assert a.statistics().renewals == 2

    run_virtual(main)
    spec = leases.items[f"{LEASES}/kruntimes-controller"]["spec"]
    assert (spec["holderIdentity"], spec["leaseDurationSeconds"]) == ("", 1)


def test_lead_failing_releases_the_lease_and_propagates_the_error() -> None:
    leases = MemoryLeases()

    async def main() -> None:
        a = LeaderElector(MemoryApi(leases), virtual_config("a"), clock=virtual_wall)

        async def lead() -> None:
            raise KeyError("boom")

        with pytest.raises(KeyError, match="boom"):
            await a.run(lead)

    run_virtual(main)
    assert leases.items[f"{LEASES}/kruntimes-controller"]["spec"]["holderIdentity"] == ""


def test_a_standby_waits_for_the_holders_expiry_then_counts_a_transition() -> None:
    leases = MemoryLeases()
    leases.items[f"{LEASES}/kruntimes-controller"] = lease("gone", EPOCH + 1, 15, transitions=1)

    async def main() -> None:
        b = LeaderElector(MemoryApi(leases), virtual_config("b"), clock=virtual_wall)
        with trio.CancelScope() as scope:

            async def lead() -> None:
                assert trio.current_time() == pytest.approx(16, abs=0.01)  # just after 1 + 15
                scope.cancel()

            await b.run(lead)
        assert b.statistics().transitions == 2  # saw "gone", then itself

    run_virtual(main)
    assert leases.items[f"{LEASES}/kruntimes-controller"]["spec"]["leaseTransitions"] == 2


# -- a real apiserver ------------------------------------------------------------------


class FlakyApi(KubeApi):
    """A real connection that fails every request while `broken` (an unreachable apiserver)."""

    broken = False

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        if self.broken:
            await trio.lowlevel.checkpoint()
            raise Unavailable(f"{method} {path}: connection refused")
        return await super().request(
            method, path, query=query, body=body, content_type=content_type
        )


class RacingApi(KubeApi):
    """Holds every first read of the lease until both replicas read it missing, then POSTs."""

    gate: trio.Event
    reads: list[str]
    posts: list[str]
    both_posted: trio.Event

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        if method == "POST":
            try:
                created = await super().request(method, path, body=body)
            except AlreadyExists:
                self.posts.append("already-exists")
                raise
            else:
                self.posts.append("created")
                return created
            finally:
                if len(self.posts) == 2:
                    self.both_posted.set()
        try:
            return await super().request(method, path, body=body)
        except NotFound:
            self.reads.append("missing")
            if len(self.reads) == 2:
                self.gate.set()
            await self.gate.wait()
            raise


def fast_config(namespace: str, identity: str) -> LeaseConfig:
    return LeaseConfig(
        namespace, identity=identity, lease_duration=3, renew_deadline=2, retry_period=0.2
    )


def read_lease(env: KubeTestEnv, namespace: str) -> Any:
    return env.request(
        "GET", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/kruntimes-controller"
    )


def test_two_replicas_never_lead_at_once(krt_kube_env: KubeTestEnv) -> None:
    ns = krt_kube_env.new_namespace("leader")
    recorder = Recorder()

    async def main() -> None:
        api = KubeApi.from_kubeconfig(krt_kube_env.kubeconfig)
        electors = [LeaderElector(api, fast_config(ns, name)) for name in ("a", "b")]

        async def replica(me: LeaderElector, other: LeaderElector) -> None:
            for _ in range(2):
                lead = recorder.lead_for(me.identity, 0.5)  # renews twice while leading

                async def checked(lead: Callable[[], Awaitable[None]] = lead) -> None:
                    assert not other.is_leader
                    await lead()
                    assert not other.is_leader

                await me.run(checked)

        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(replica, electors[0], electors[1])
                nursery.start_soon(replica, electors[1], electors[0])
        assert sum(e.statistics().renewals for e in electors) >= 4

    trio.run(main)
    assert sorted(name for name, _, _ in recorder.intervals) == ["a", "a", "b", "b"]
    assert_no_overlap(recorder.intervals)
    assert read_lease(krt_kube_env, ns)["spec"]["holderIdentity"] == ""


def test_cancelled_leader_hands_over_promptly(krt_kube_env: KubeTestEnv) -> None:
    ns = krt_kube_env.new_namespace("leader")
    recorder = Recorder()

    async def main() -> None:
        api = KubeApi.from_kubeconfig(krt_kube_env.kubeconfig)
        a, b = (LeaderElector(api, fast_config(ns, name)) for name in ("a", "b"))
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                a_scope = trio.CancelScope()

                async def run_a() -> None:
                    with a_scope:
                        await a.run(recorder.forever("a"))

                nursery.start_soon(run_a)
                await a.wait_leading()
                nursery.start_soon(b.run, recorder.forever("b"))
                cancelled = trio.current_time()
                a_scope.cancel()
                await b.wait_leading()
                assert trio.current_time() - cancelled < 1.0  # a release, not a 3 s expiry
                assert not a.is_leader
                nursery.cancel_scope.cancel()

    trio.run(main)
    assert [name for name, _, _ in recorder.intervals] == ["a", "b"]
    assert_no_overlap(recorder.intervals)
    spec = read_lease(krt_kube_env, ns)["spec"]
    assert spec["holderIdentity"] == ""  # b released it too
    assert spec["leaseTransitions"] == 1  # a created it, b took it over


def test_leader_cut_off_from_the_apiserver_stops_before_its_lease_expires(
    krt_kube_env: KubeTestEnv,
) -> None:
    ns = krt_kube_env.new_namespace("leader")
    recorder = Recorder()
    config = fast_config(ns, "a")

    async def main() -> None:
        api = FlakyApi.from_kubeconfig(krt_kube_env.kubeconfig)
        assert isinstance(api, FlakyApi)
        a = LeaderElector(api, config)
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:

                async def cut_off() -> None:
                    await a.wait_leading()
                    api.broken = True

                nursery.start_soon(cut_off)
                with pytest.raises(LostLeadership):
                    await a.run(recorder.forever("a"))
        assert a.statistics().failures >= 1

    trio.run(main)
    [(_, start, end)] = recorder.intervals
    assert end - start <= config.renew_deadline + 0.1
    written = read_lease(krt_kube_env, ns)["spec"]
    assert written["holderIdentity"] == "a"  # not released: the apiserver was unreachable
    expiry = parse_micro_time(written["renewTime"]) + written["leaseDurationSeconds"]
    assert recorder.stopped_at_wall["a"] < expiry


def test_leader_whose_lease_is_overwritten_stops(krt_kube_env: KubeTestEnv) -> None:
    ns = krt_kube_env.new_namespace("leader")
    recorder = Recorder()
    path = f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/kruntimes-controller"

    async def main() -> None:
        api = KubeApi.from_kubeconfig(krt_kube_env.kubeconfig)
        a = LeaderElector(api, fast_config(ns, "a"))
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:

                async def intrude() -> None:
                    await a.wait_leading()
                    taken = await api.request("GET", path)
                    taken["spec"]["holderIdentity"] = "intruder"
                    await api.request("PUT", path, body=taken)

                nursery.start_soon(intrude)
                with pytest.raises(LostLeadership):
                    await a.run(recorder.forever("a"))

    trio.run(main)
    assert len(recorder.intervals) == 1
    assert read_lease(krt_kube_env, ns)["spec"]["holderIdentity"] == "intruder"


def test_racing_creates_elect_one_leader(krt_kube_env: KubeTestEnv) -> None:
    ns = krt_kube_env.new_namespace("leader")
    recorder = Recorder()

    async def main() -> None:
        gate, both_posted = trio.Event(), trio.Event()
        reads: list[str] = []
        posts: list[str] = []
        electors = []
        for name in ("a", "b"):
            api = RacingApi.from_kubeconfig(krt_kube_env.kubeconfig)
            assert isinstance(api, RacingApi)
            api.gate, api.both_posted, api.reads, api.posts = gate, both_posted, reads, posts
            electors.append(LeaderElector(api, fast_config(ns, name)))
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                for elector in electors:
                    nursery.start_soon(elector.run, recorder.forever(elector.identity))
                await both_posted.wait()
                assert sorted(posts) == ["already-exists", "created"]
                async with trio.open_nursery() as first:

                    async def until_leading(elector: LeaderElector) -> None:
                        await elector.wait_leading()
                        first.cancel_scope.cancel()

                    for elector in electors:
                        first.start_soon(until_leading, elector)
                (loser,) = [e for e in electors if not e.is_leader]
                assert loser.statistics().failures == 1
                nursery.cancel_scope.cancel()

    trio.run(main)
    assert len(recorder.intervals) == 1
