"""RuntimeController against a real kube-apiserver (no controllers run there: tests play them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing
from attrs import evolve, frozen

from kruntimes.adapters.kubernetes.api import KubeApi
from kruntimes.adapters.kubernetes.informer import follow_raw
from kruntimes.adapters.kubernetes.runtime_controller import Outcome, RuntimeController
from kruntimes.adapters.kubernetes.runtime_objects import (
    TEMPLATE_HASH_ANNOTATION,
    AgentSettings,
    desired_objects,
)
from kruntimes.adapters.kubernetes.store import KubeStore
from kruntimes.adapters.kubernetes.workqueue import WorkQueue
from kruntimes.model import ObjectMeta, Runtime, RuntimeSpec
from kruntimes.store import Conflict, Kind, NotFound
from kruntimes.testing.kube_env import KubeTestEnv

SETTINGS = AgentSettings()
MANAGED = "app.kubernetes.io/managed-by=kruntimes"
LIMIT = 10.0


@frozen
class World:
    ns: str
    controller: RuntimeController
    api: KubeApi
    """The controller's connection (its requests are counted)."""
    client: KubeApi
    """The test's own connection."""
    store: KubeStore
    """The test's store."""


def make_runtime(name: str, ns: str, image: str = "example/bash:1", **spec: Any) -> Runtime:
    template = {
        "spec": {"containers": [{"name": "runtime", "image": image}], "restartPolicy": "Always"}
    }
    return Runtime(ObjectMeta(name=name, namespace=ns), RuntimeSpec(template=template, **spec))


def run(env: KubeTestEnv, test: Callable[[World], Any]) -> None:
    async def main() -> None:
        ns = env.new_namespace("rtc")
        api = KubeApi.from_kubeconfig(env.kubeconfig)
        client = KubeApi.from_kubeconfig(env.kubeconfig)
        controller = RuntimeController(
            api, KubeStore(api), SETTINGS, namespace=ns, retry_first_delay=0.05
        )
        with trio.fail_after(LIMIT):
            async with trio.open_nursery() as nursery:
                await nursery.start(controller.run)
                await test(World(ns, controller, api, client, KubeStore(client)))
                nursery.cancel_scope.cancel()

    trio.run(main)


async def until(
    api: KubeApi,
    path: str,
    predicate: Callable[[Mapping[str, dict[str, Any]]], bool],
    *,
    selector: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Follow `path` (list + watch) until `predicate(objects by name)` holds; those objects."""
    objects: dict[str, dict[str, Any]] = {}
    done = trio.Event()

    def handle(obj: dict[str, Any], deleted: bool) -> None:
        name = obj["metadata"]["name"]
        if deleted:
            objects.pop(name, None)
        else:
            objects[name] = obj
        if predicate(objects):
            done.set()

    async with trio.open_nursery() as nursery:
        await nursery.start(partial(follow_raw, api, path, handle, label_selector=selector))
        if predicate(objects):
            done.set()
        await done.wait()
        nursery.cancel_scope.cancel()
    return dict(objects)


def deployments(ns: str) -> str:
    return f"/apis/apps/v1/namespaces/{ns}/deployments"


def runtimes(ns: str) -> str:
    return f"/apis/kruntimes.io/v1alpha1/namespaces/{ns}/runtimes"


def child_paths(ns: str, name: str) -> list[str]:
    shape = Runtime(ObjectMeta(name=name, namespace=ns))
    paths = []
    for obj in desired_objects(shape, SETTINGS):
        group = obj["apiVersion"]
        prefix = f"/apis/{group}" if "/" in group else f"/api/{group}"
        plural = {"NetworkPolicy": "networkpolicies"}.get(obj["kind"], obj["kind"].lower() + "s")
        paths.append(f"{prefix}/namespaces/{ns}/{plural}/{obj['metadata']['name']}")
    return paths


def condition(runtime: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    found = runtime.get("status", {}).get("conditions", [])
    return next((c for c in found if c["type"] == type_), None)


def ready_is(status: str, reason: str | None = None) -> Callable[[Mapping[str, Any]], bool]:
    def check(runtime: Mapping[str, Any]) -> bool:
        ready = condition(runtime, "Ready")
        return ready is not None and ready["status"] == status and reason in (None, ready["reason"])

    return check


async def until_runtime(w: World, name: str, check: Callable[[Mapping[str, Any]], bool]) -> Any:
    found = await until(w.client, runtimes(w.ns), lambda o: name in o and check(o[name]))
    return found[name]


async def until_deployment(
    w: World, name: str, check: Callable[[Mapping[str, Any]], bool] = lambda _: True
) -> Any:
    found = await until(
        w.client, deployments(w.ns), lambda o: name in o and check(o[name]), selector=MANAGED
    )
    return found[name]


def test_a_runtime_gets_its_children_owned_by_it(krt_kube_env: KubeTestEnv) -> None:
    async def test(w: World) -> None:
        created = await w.store.create(make_runtime("bash", w.ns))
        await until_deployment(w, "bash")
        for path in child_paths(w.ns, "bash"):
            obj = await w.client.request("GET", path)
            (ref,) = obj["metadata"]["ownerReferences"]
            assert ref["uid"] == created.metadata.uid
            assert (ref["kind"], ref["name"], ref["controller"]) == ("Runtime", "bash", True)
            labels = obj["metadata"]["labels"]
            assert labels["app.kubernetes.io/managed-by"] == "kruntimes"
        runtime = await until_runtime(w, "bash", ready_is("False", "ScalingUp"))
        assert runtime["status"].get("readyReplicas", 0) == 0
        assert w.controller.statistics().failures == 0

    run(krt_kube_env, test)


async def change_spec(w: World, name: str, change: Callable[[RuntimeSpec], RuntimeSpec]) -> None:
    """Read, change, write; again on Conflict (the controller writes the status meanwhile)."""
    while True:
        current = await w.store.get_runtime(w.ns, name)
        try:
            await w.store.update_spec(evolve(current, spec=change(current.spec)))
            return
        except Conflict:
            continue


def test_a_spec_change_rolls_the_template_hash(krt_kube_env: KubeTestEnv) -> None:
    async def test(w: World) -> None:
        await w.store.create(make_runtime("bash", w.ns))
        first = await until_deployment(w, "bash")
        old_hash = first["spec"]["template"]["metadata"]["annotations"][TEMPLATE_HASH_ANNOTATION]

        changed = make_runtime("bash", w.ns, image="example/bash:2")
        await change_spec(w, "bash", lambda spec: changed.spec)

        def rolled(d: Mapping[str, Any]) -> bool:
            annotations = d["spec"]["template"]["metadata"]["annotations"]
            return bool(annotations[TEMPLATE_HASH_ANNOTATION] != old_hash)

        second = await until_deployment(w, "bash", rolled)
        (runtime_container, _agent) = second["spec"]["template"]["spec"]["containers"]
        assert runtime_container["image"] == "example/bash:2"
        assert second["metadata"]["generation"] > first["metadata"]["generation"]

        # Scaling changes replicas, not the hash: warm Pods stay.
        await change_spec(w, "bash", lambda spec: evolve(spec, replicas=3))
        third = await until_deployment(w, "bash", lambda d: d["spec"]["replicas"] == 3)
        annotations = third["spec"]["template"]["metadata"]["annotations"]
        assert annotations[TEMPLATE_HASH_ANNOTATION] != old_hash
        assert third["spec"]["template"] == second["spec"]["template"]

    run(krt_kube_env, test)


def test_deployment_readiness_flows_into_the_runtime_status(krt_kube_env: KubeTestEnv) -> None:
    async def test(w: World) -> None:
        await w.store.create(make_runtime("bash", w.ns, replicas=2))
        deployment = await until_deployment(w, "bash")
        await until_runtime(w, "bash", ready_is("False", "ScalingUp"))

        generation = deployment["metadata"]["generation"]
        deployment["status"] = {
            "observedGeneration": generation,
            "replicas": 2,
            "updatedReplicas": 2,
            "readyReplicas": 2,
            "availableReplicas": 2,
        }
        path = f"{deployments(w.ns)}/bash/status"
        await w.client.request("PUT", path, body=deployment)  # the Deployment controller's part

        runtime = await until_runtime(w, "bash", ready_is("True"))
        assert runtime["status"]["readyReplicas"] == 2
        ready = condition(runtime, "Ready")
        assert ready is not None
        assert (ready["reason"], ready["message"]) == ("ReplicasReady", "2/2 Runtime Pods ready")
        progressing = condition(runtime, "Progressing")
        assert progressing is not None
        assert (progressing["status"], progressing["reason"]) == ("False", "RolledOut")

    run(krt_kube_env, test)


def foreign_deployment(ns: str, name: str) -> dict[str, Any]:
    labels = {"app": "someone-else"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
        },
    }


def test_a_foreign_object_is_left_alone_and_reported(krt_kube_env: KubeTestEnv) -> None:
    async def test(w: World) -> None:
        foreign = await w.client.request(
            "POST", deployments(w.ns), body=foreign_deployment(w.ns, "taken")
        )
        taken = await w.store.create(make_runtime("taken", w.ns))
        await w.store.create(make_runtime("free", w.ns))

        runtime = await until_runtime(w, "taken", ready_is("False", "OwnershipConflict"))
        ready = condition(runtime, "Ready")
        assert ready is not None
        assert (
            f"Deployment {w.ns}/taken exists and is not owned by this Runtime" in (ready["message"])
        )
        await until_deployment(w, "free")  # the other Runtime is reconciled all the same
        await until_runtime(w, "free", ready_is("False", "ScalingUp"))

        still = await w.client.request("GET", f"{deployments(w.ns)}/taken")
        assert still["metadata"]["resourceVersion"] == foreign["metadata"]["resourceVersion"]
        assert "ownerReferences" not in still["metadata"]
        sa = await w.client.request("GET", f"/api/v1/namespaces/{w.ns}/serviceaccounts/taken-agent")
        assert sa["metadata"]["ownerReferences"][0]["uid"] == taken.metadata.uid
        last = w.controller.last_reconciled(w.ns, "taken")
        assert last is not None
        assert last.outcome is Outcome.OWNERSHIP_CONFLICT
        assert w.controller.statistics().failures == 0

    run(krt_kube_env, test)


def test_a_rejected_runtime_is_reported_and_never_stops_the_others(
    krt_kube_env: KubeTestEnv,
) -> None:
    async def test(w: World) -> None:
        bad = make_runtime("bad", w.ns)
        template = {
            "spec": {"containers": [{"name": "runtime", "image": "x"}, {"name": "Not_A_Name"}]}
        }
        await w.store.create(evolve(bad, spec=evolve(bad.spec, template=template)))
        await w.store.create(make_runtime("good", w.ns))
        runtime = await until_runtime(w, "bad", ready_is("False", "ReconcileFailed"))
        ready = condition(runtime, "Ready")
        assert ready is not None
        assert f"Deployment {w.ns}/bad" in ready["message"]
        await until_deployment(w, "good")
        stats = w.controller.statistics()
        assert stats.failures >= 1
        errors = w.controller.metrics.registry.get_sample_value(
            "kruntimes_runtime_controller_reconciles_total", {"result": "error"}
        )
        assert errors is not None
        assert errors >= 1
        with pytest.raises(NotFound):
            await w.client.request("GET", f"{deployments(w.ns)}/bad")

    run(krt_kube_env, test)


def test_a_deleted_runtime_takes_its_children(krt_kube_env: KubeTestEnv) -> None:
    async def test(w: World) -> None:
        await w.store.create(make_runtime("bash", w.ns))
        await until_deployment(w, "bash")
        await w.store.delete(Kind.RUNTIME, w.ns, "bash")
        await until(
            w.client,
            f"/api/v1/namespaces/{w.ns}/serviceaccounts",
            lambda objects: not objects,
            selector=MANAGED,
        )  # deleted last
        for path in child_paths(w.ns, "bash"):
            with pytest.raises(NotFound):
                await w.client.request("GET", path)

    run(krt_kube_env, test)


def test_leftovers_of_a_runtime_deleted_while_down_are_cleaned(krt_kube_env: KubeTestEnv) -> None:
    """Children owned by a Runtime that no longer exists (and no GC to remove them)."""
    ns = krt_kube_env.new_namespace("orphans")
    ghost = Runtime(ObjectMeta(name="ghost", namespace=ns, uid="0000-gone"), RuntimeSpec())
    for obj in desired_objects(ghost, SETTINGS):
        krt_kube_env.apply(obj)

    async def test(w: World) -> None:
        service_accounts = f"/api/v1/namespaces/{ns}/serviceaccounts"
        await until(w.client, service_accounts, lambda objects: not objects, selector=MANAGED)
        for path in child_paths(ns, "ghost"):
            with pytest.raises(NotFound):
                await w.client.request("GET", path)

    async def main() -> None:
        api = KubeApi.from_kubeconfig(krt_kube_env.kubeconfig)
        controller = RuntimeController(api, KubeStore(api), SETTINGS, namespace=ns)
        with trio.fail_after(LIMIT):
            async with trio.open_nursery() as nursery:
                await nursery.start(controller.run)
                await test(World(ns, controller, api, api, KubeStore(api)))
                nursery.cancel_scope.cancel()

    trio.run(main)


def test_nothing_changed_means_no_write(krt_kube_env: KubeTestEnv) -> None:
    async def test(w: World) -> None:
        await w.store.create(make_runtime("bash", w.ns))
        runtime = await until_runtime(w, "bash", ready_is("False", "ScalingUp"))
        version = runtime["metadata"]["resourceVersion"]
        await w.controller.wait_reconciled(w.ns, "bash", version)  # saw its own status write
        before = w.api.statistics()
        reconciles = w.controller.statistics().reconciles

        # A change that matters to no child: a label on the Runtime.
        current = await w.store.get_runtime(w.ns, "bash")
        meta = evolve(current.metadata, labels={"team": "ci"})
        labelled = await w.store.update_spec(evolve(current, metadata=meta))
        last = await w.controller.wait_reconciled(w.ns, "bash", labelled.metadata.resource_version)
        assert last.outcome is Outcome.SYNCED
        # A change a child's owner does not care about: someone labels the Deployment.
        path = f"{deployments(w.ns)}/bash"
        await w.client.request(
            "PATCH",
            path,
            body={"metadata": {"labels": {"seen-by": "test"}}},
            content_type="application/merge-patch+json",
        )
        await w.controller.wait_reconciled(w.ns, "bash", after=last.number)

        after = w.api.statistics()
        assert after.writes == before.writes
        assert after.requests["GET"] >= before.requests["GET"] + 10  # two reconciles did read
        assert w.controller.statistics().reconciles >= reconciles + 2
        live = await w.client.request("GET", path)
        assert live["metadata"]["labels"]["seen-by"] == "test"  # and nobody took it off

    run(krt_kube_env, test)


def test_a_runtime_recreated_under_its_name_gets_fresh_children(
    krt_kube_env: KubeTestEnv,
) -> None:
    """Children of the deleted incarnation (another uid) are replaced, not a conflict."""

    async def test(w: World) -> None:
        first = await w.store.create(make_runtime("bash", w.ns))
        await until_deployment(w, "bash")
        await w.store.delete(Kind.RUNTIME, w.ns, "bash")
        second = await w.store.create(make_runtime("bash", w.ns, image="example/bash:2"))
        assert second.metadata.uid != first.metadata.uid

        def owned_by_second(d: Mapping[str, Any]) -> bool:
            refs = d["metadata"].get("ownerReferences", [])
            return [r["uid"] for r in refs] == [second.metadata.uid]

        await until_deployment(w, "bash", owned_by_second)
        await until_runtime(w, "bash", ready_is("False", "ScalingUp"))
        for path in child_paths(w.ns, "bash"):
            obj = await w.client.request("GET", path)
            assert [r["uid"] for r in obj["metadata"]["ownerReferences"]] == [second.metadata.uid]

    run(krt_kube_env, test)


def test_work_queue_deduplicates_and_requeues_keys_changed_while_processed() -> None:
    async def main() -> None:
        queue: WorkQueue[str] = WorkQueue()
        for key in ("a", "b", "a", "a"):
            queue.add(key)
        assert len(queue) == 2
        first = await queue.get()
        assert first == "a"
        queue.add("a")  # changed while a worker has it: once more after `done`
        queue.add("a")
        second = await queue.get()
        assert second == "b"
        queue.done("a")
        assert await queue.get() == "a"
        queue.done("a")
        queue.done("b")
        assert len(queue) == 0
        async with trio.open_nursery() as nursery:
            nursery.start_soon(queue.run_delays)
            start = trio.current_time()
            queue.add_after("c", 5.0)
            queue.add_after("c", 2.0)  # the earlier due time wins
            assert await queue.get() == "c"
            assert trio.current_time() - start == pytest.approx(2.0)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
