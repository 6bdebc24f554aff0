"""`KubeletSimulator`: Deployment controller and kubelet, for end-to-end tests on a bare apiserver.

The test apiserver runs no controllers and no kubelet. This plays them for
the Deployments the Runtime controller creates: it keeps `replicas` Pods per
Deployment (recreating them when the template hash changes), marks them
Running and Ready, writes the Deployment's status, and runs each Pod's
containers as local processes, the way kubelet would run them:

- `$(VAR)` in command and args is expanded from the container's env;
  `valueFrom.fieldRef` gives the Pod's name, namespace and uid; `HOSTNAME`
  is the Pod's name;
- each volume is a directory of the Pod, and every path under a mount point
  (in command, args and env) is rewritten to it;
- `python` runs this interpreter; the agent sidecar (no command in its
  template: the image has it) runs `kruntimes.adapters.kubernetes.main agent`
  with its probes on free ports;
- `KUBECONFIG` is the credential the Pod's service account would have.

Deleting a Pod (`delete_pod`, or anyone through the API) kills its processes,
then a replacement is created. Pod logs are in `<root>/<pod>/<container>.log`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import structlog
import trio

from kruntimes.adapters.kubernetes.api import KubeApi
from kruntimes.adapters.kubernetes.controller import Controller, ControllerOptions
from kruntimes.adapters.kubernetes.informer import follow_raw
from kruntimes.adapters.kubernetes.runtime_objects import (
    AGENT_CONTAINER,
    MANAGED_BY_LABEL,
    TEMPLATE_HASH_ANNOTATION,
)
from kruntimes.adapters.kubernetes.store import KubeStore
from kruntimes.client import AsyncClient
from kruntimes.model import ObjectMeta, Runtime, RuntimeSpec
from kruntimes.store.port import AlreadyExists, Conflict, NotFound
from kruntimes.testing.kube_env import KubeTestEnv
from kruntimes.testing.kube_pods import running_ready_status

log = structlog.get_logger("kruntimes.testing.kubelet")

DEPLOYMENT_LABEL = "simulator.kruntimes.io/deployment"
_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


class KubeletSimulator:
    """Run with `await nursery.start(sim.run)`; Pods appear as Deployments ask for them."""

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        root: Path,
        *,
        kubeconfig: Path,
        agent_args: tuple[str, ...] = (),
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.root = root
        self.kubeconfig = kubeconfig
        self.agent_args = agent_args
        self._volumes = Path(tempfile.mkdtemp(prefix="krt-vol-"))
        """Short paths: a Unix socket's path must fit in 107 bytes, pytest's tmp_path may not."""
        self._deployments: dict[str, dict[str, Any]] = {}
        self._pods: dict[str, _PodProcesses] = {}
        self._changed = trio.Event()
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        path = f"/apis/apps/v1/namespaces/{self.namespace}/deployments"
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await nursery.start(
                    partial(
                        follow_raw,
                        self.api,
                        path,
                        self._deployment_changed,
                        label_selector=f"{MANAGED_BY_LABEL}=kruntimes",
                    )
                )
                nursery.start_soon(self._reconcile_forever)
                task_status.started(self)
        finally:
            with trio.CancelScope(shield=True):
                for name in list(self._pods):
                    await self._stop(name)
            shutil.rmtree(self._volumes, ignore_errors=True)

    async def delete_pod(self, name: str) -> None:
        """What `kubectl delete pod --grace-period=0 --force` and kubelet together do."""
        await self._stop(name)
        with contextlib.suppress(NotFound):
            await self.api.request(
                "DELETE",
                f"/api/v1/namespaces/{self.namespace}/pods/{name}",
                body={"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0},
            )
        self._poke()

    # -- reconciling ----------------------------------------------------------

    def _deployment_changed(self, deployment: dict[str, Any], deleted: bool) -> None:
        name = deployment["metadata"]["name"]
        if deleted:
            self._deployments.pop(name, None)
        else:
            self._deployments[name] = deployment
        self._poke()

    def _poke(self) -> None:
        self._changed.set()

    async def _reconcile_forever(self) -> None:
        while True:
            self._changed = trio.Event()
            for name, deployment in list(self._deployments.items()):
                await self._reconcile(name, deployment)
            for pod, processes in list(self._pods.items()):
                if processes.deployment not in self._deployments:
                    await self._stop(pod)
            await self._changed.wait()

    async def _reconcile(self, name: str, deployment: dict[str, Any]) -> None:
        spec = deployment["spec"]
        template = spec["template"]
        want = template.get("metadata", {}).get("annotations", {}).get(TEMPLATE_HASH_ANNOTATION)
        mine = {p: proc for p, proc in self._pods.items() if proc.deployment == name}
        for pod, proc in mine.items():
            if proc.template_hash != want:
                await self.delete_pod(pod)
        current = [p for p, proc in self._pods.items() if proc.deployment == name]
        replicas = int(spec.get("replicas", 1))
        for pod in current[replicas:]:
            await self.delete_pod(pod)
        for _ in range(replicas - len(current)):
            await self._create_pod(name, template, want)
        ready = min(replicas, len([p for p in self._pods.values() if p.deployment == name]))
        status = {
            "observedGeneration": deployment["metadata"].get("generation", 1),
            "replicas": ready,
            "updatedReplicas": ready,
            "readyReplicas": ready,
            "availableReplicas": ready,
        }
        if deployment.get("status") != status:
            body = {**deployment, "status": status}
            path = f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{name}/status"
            with contextlib.suppress(NotFound, Conflict):  # the watch brings the new version
                self._deployments[name] = await self.api.request("PUT", path, body=body)

    async def _create_pod(
        self, deployment: str, template: dict[str, Any], hash_: str | None
    ) -> None:
        name = f"{deployment}-{uuid.uuid4().hex[:5]}"
        metadata = dict(template.get("metadata", {}))
        metadata["name"] = name
        metadata["labels"] = {**metadata.get("labels", {}), DEPLOYMENT_LABEL: deployment}
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}
        path = f"/api/v1/namespaces/{self.namespace}/pods"
        with contextlib.suppress(AlreadyExists):
            created = await self.api.request("POST", path, body=body)
            processes = _PodProcesses(deployment, hash_, self.root / name, self._volumes / name)
            self._pods[name] = processes
            assert self._nursery is not None
            await processes.start(self._nursery, created, self._container_env, self._agent_command)
            created["status"] = running_ready_status(0.0, heartbeat=False)
            await self.api.request("PUT", f"{path}/{name}/status", body=created)

    def _container_env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def _agent_command(self) -> list[str]:
        free = "127.0.0.1:0"
        return [
            sys.executable,
            "-m",
            "kruntimes.adapters.kubernetes.main",
            "agent",
            "--health-probe-bind-address",
            free,
            "--metrics-bind-address",
            "",
            "--log-format",
            "console",
            *self.agent_args,
        ]

    async def _stop(self, name: str) -> None:
        processes = self._pods.pop(name, None)
        if processes is not None:
            await processes.stop()


class _PodProcesses:
    """The containers of one Pod as local process groups."""

    def __init__(
        self, deployment: str, template_hash: str | None, root: Path, volumes: Path
    ) -> None:
        self.deployment = deployment
        self.template_hash = template_hash
        self.root = root
        self.volumes = volumes
        self.stopping = False
        self.processes: list[trio.Process] = []

    async def start(
        self,
        nursery: trio.Nursery,
        pod: dict[str, Any],
        base_env: Callable[[], dict[str, str]],
        agent_command: Callable[[], list[str]],
    ) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        volumes = {v["name"]: self.volumes / str(i) for i, v in enumerate(spec.get("volumes", []))}
        self.root.mkdir(parents=True, exist_ok=True)
        for directory in volumes.values():
            directory.mkdir(parents=True, exist_ok=True)
        fields = {
            "metadata.name": meta["name"],
            "metadata.namespace": meta["namespace"],
            "metadata.uid": meta["uid"],
        }
        for container in spec["containers"]:
            mounts = {
                m["mountPath"]: str(volumes[m["name"]])
                for m in container.get("volumeMounts", [])
                if m["name"] in volumes
            }
            env = base_env()
            env.update(HOSTNAME=meta["name"], KRUNTIMES_POD_UID=meta["uid"])
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
                value = fields.get(ref, "") if ref else _expand(str(var.get("value", "")), env)
                env[var["name"]] = _rewrite(value, mounts)
            if container["name"] == AGENT_CONTAINER and not container.get("command"):
                argv = agent_command()
            else:
                argv = [*container.get("command", []), *container.get("args", [])]
                argv = [_rewrite(_expand(a, env), mounts) for a in argv]
                argv = [sys.executable if a == "python" else a for a in argv]
            log_path = self.root / f"{container['name']}.log"
            out = log_path.open("ab")
            process = await trio.lowlevel.open_process(
                argv, env=env, stdout=out, stderr=out, start_new_session=True
            )
            out.close()
            self.processes.append(process)
            nursery.start_soon(self._reap, process, meta["name"], log_path)

    async def _reap(self, process: trio.Process, pod: str, log_path: Path) -> None:
        """Wait for a container; an unexpected exit is logged with its output's tail."""
        await process.wait()
        if not self.stopping:
            tail = log_path.read_text(errors="replace")[-1500:]
            log.warning("container exited", pod=pod, code=process.returncode, output=tail)

    async def stop(self) -> None:
        self.stopping = True
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        for process in self.processes:
            await process.wait()


def _expand(value: str, env: Mapping[str, str]) -> str:
    return _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), value)


def _rewrite(value: str, mounts: Mapping[str, str]) -> str:
    for mount in sorted(mounts, key=len, reverse=True):
        if value == mount or value.startswith(mount.rstrip("/") + "/"):
            return mounts[mount] + value[len(mount.rstrip("/")) :]
    return value


def builtin_runtime(
    name: str,
    namespace: str,
    *,
    server: str = "bash",
    replicas: int = 2,
    capacity: int = 8,
) -> Runtime:
    """A Runtime of a built-in server (`bash` or `python`), as the runtimes chart makes them."""
    template = {
        "spec": {
            "containers": [
                {
                    "name": "runtime",
                    "image": f"ghcr.io/kruntimes/runtime-{server}:0.1.0",
                    "command": ["python", "-m", f"kruntimes.runtimes.{server}_server"],
                    "args": [
                        "--socket",
                        "/run/kruntimes/runtime.sock",
                        "--capacity",
                        "$(KRUNTIMES_CAPACITY)",
                    ],
                    "env": [{"name": "KRUNTIMES_CAPACITY", "value": str(capacity)}],
                }
            ]
        }
    }
    return Runtime(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec=RuntimeSpec(template=template, replicas=replicas, capacity={"runs": capacity}),
    )


class Cluster:
    """A namespace of the test apiserver with kruntimes running in it, for end-to-end tests.

    `async with Cluster.start(env, namespace, root, runtimes=[...]) as cluster:`
    runs a controller (the scheduler, the Runtime controller and the Run GC)
    and a `KubeletSimulator`, and returns once every Runtime's Pods heartbeat.
    `cluster.client` submits and waits for Runs; `start_controller` /
    `stop_controller` add replicas (with leader election) or take them away.
    """

    def __init__(self, env: KubeTestEnv, namespace: str, root: Path, nursery: trio.Nursery) -> None:
        self.env = env
        self.namespace = namespace
        self.api = KubeApi.from_kubeconfig(env.kubeconfig)
        self.store = KubeStore(self.api)
        self.client = AsyncClient(self.store, namespace=namespace)
        self.simulator = KubeletSimulator(self.api, namespace, root, kubeconfig=env.kubeconfig)
        self.controllers: dict[str, tuple[Controller, trio.CancelScope]] = {}
        self._nursery = nursery

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls,
        env: KubeTestEnv,
        namespace: str,
        root: Path,
        *,
        runtimes: Sequence[Runtime],
        leader_elect: bool = False,
        controller_process: bool = False,
    ) -> AsyncIterator[Cluster]:
        """`controller_process=True` runs the controller as its own process (as in a
        cluster: its own Pod), through the same command line as the image."""
        async with trio.open_nursery() as nursery:
            cluster = cls(env, namespace, root, nursery)
            for runtime in runtimes:
                await cluster.store.create(runtime)
            await nursery.start(cluster.simulator.run)
            if controller_process:
                nursery.start_soon(cluster._controller_process, root / "controller.log")
            else:
                await cluster.start_controller("controller-0", leader_elect=leader_elect)
            for runtime in runtimes:
                await cluster.client.wait_runtime_ready(runtime.metadata.name)
            yield cluster
            nursery.cancel_scope.cancel()

    async def start_controller(self, identity: str, *, leader_elect: bool = True) -> Controller:
        options = ControllerOptions(
            namespaces=(self.namespace,),
            leader_elect=leader_elect,
            leader_election_namespace=self.namespace,
            identity=identity,
            metrics_bind_address="",
            health_probe_bind_address="",
            load_entry_points=False,
        )
        controller = Controller(KubeApi.from_kubeconfig(self.env.kubeconfig), options)
        scope = trio.CancelScope()

        async def run(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            with scope:
                await controller.run(task_status=task_status)

        await self._nursery.start(run)
        self.controllers[identity] = (controller, scope)
        return controller

    async def _controller_process(self, log_path: Path) -> None:
        argv = [
            sys.executable,
            "-m",
            "kruntimes.adapters.kubernetes.main",
            "controller",
            "--kubeconfig",
            str(self.env.kubeconfig),
            "--namespace",
            self.namespace,
            "--metrics-bind-address",
            "",
            "--health-probe-bind-address",
            "",
            "--log-format",
            "console",
        ]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as out:
            await trio.run_process(argv, stdout=out, stderr=out)

    def stop_controller(self, identity: str) -> None:
        """Cancel that replica (like SIGTERM): a leader releases its Lease on the way out."""
        _, scope = self.controllers.pop(identity)
        scope.cancel()
