"""`FakeKubelet`: what a test does in place of kubelet against a bare kube-apiserver.

The test apiserver runs no kubelet, so nothing ever creates, starts or
readies a Pod. A test creates Runtime Pods (as a Deployment would ask for),
marks them Running and Ready, and deletes them at once (there is no kubelet
to finish a graceful deletion). Pod status timestamps have whole-second
precision on the wire, so heartbeats read back are truncated to the second.
"""

from __future__ import annotations

from collections.abc import Mapping

from kruntimes.adapters.kubernetes.api import KubeApi
from kruntimes.adapters.kubernetes.pods import pod_from_v1
from kruntimes.model import RuntimePod
from kruntimes.store.port import AlreadyExists
from kruntimes.testing.kube_pods import running_ready_status, runtime_pod_manifest


class FakeKubelet:
    """Create, ready and delete Runtime Pods through `api`, as kubelet would report them."""

    def __init__(self, api: KubeApi) -> None:
        self.api = api

    async def put_pod(self, pod: RuntimePod, *, at: float | None = None) -> RuntimePod:
        """Create `pod` (or update its labels and capacity) and set its status from the model:
        Running and Ready when `pod.ready`, a heartbeat at `pod.heartbeat` (or `at`) if any.
        """
        manifest = runtime_pod_manifest(
            pod.name, pod.namespace, pod.runtime, dict(pod.capacity), dict(pod.labels)
        )
        path = f"/api/v1/namespaces/{pod.namespace}/pods"
        try:
            current = await self.api.request("POST", path, body=manifest)
        except AlreadyExists:
            current = await self.api.request("GET", f"{path}/{pod.name}")
            current["metadata"]["labels"] = manifest["metadata"]["labels"]
            current["metadata"]["annotations"] = manifest["metadata"].get("annotations", {})
            current = await self.api.request("PUT", f"{path}/{pod.name}", body=current)
        beat = pod.heartbeat if pod.heartbeat is not None else at
        status = running_ready_status(beat or 0.0, heartbeat=beat is not None)
        if not pod.ready:
            status = {**status, "conditions": _not_ready(status["conditions"])}
        current["status"] = status
        updated = await self.api.request("PUT", f"{path}/{pod.name}/status", body=current)
        seen = pod_from_v1(updated)
        assert seen is not None
        return seen

    async def delete_pod(self, namespace: str, name: str) -> None:
        """Delete at once (grace period 0): no kubelet will confirm a graceful deletion."""
        await self.api.request(
            "DELETE",
            f"/api/v1/namespaces/{namespace}/pods/{name}",
            body={"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0},
        )


def _not_ready(conditions: list[Mapping[str, object]]) -> list[Mapping[str, object]]:
    return [{**c, "status": "False"} if c["type"] == "Ready" else c for c in conditions]
