"""Install or upgrade the CRDs on a cluster, with CEL validation rules only where it has them.

    python -m kruntimes.adapters.kubernetes.main install-crds [--kubeconfig F] [--context C]

Kubernetes 1.25 and newer get the `x-kubernetes-validations` rules (the
server then refuses what the library refuses); older servers get the same
schema without them (the library still checks every rule itself).
"""

from __future__ import annotations

import re
from typing import Any

import trio

from kruntimes.adapters.kubernetes.api import KubeApi
from kruntimes.adapters.kubernetes.crds import crd_manifests, server_supports_validation_rules
from kruntimes.store.port import AlreadyExists

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
_PARTS = ("major", "minor")
ESTABLISHED_POLL = 0.1
"""The CRD status has no watchable change worth a stream; poll while it is being set up."""


async def server_version(api: KubeApi) -> tuple[int, int]:
    """(major, minor) of the apiserver; `minor` may read like "27+" on managed clusters."""
    version = await api.request("GET", "/version")
    major, minor = (int(re.sub(r"\D", "", str(version.get(k, ""))) or 0) for k in _PARTS)
    return major, minor


async def install_crds(api: KubeApi) -> list[str]:
    """Create or replace the Run, Runtime and RunQueue CRDs and wait until they are Established."""
    major, minor = await server_version(api)
    manifests = crd_manifests(validation_rules=server_supports_validation_rules(major, minor))
    names = []
    for crd in manifests:
        name = crd["metadata"]["name"]
        names.append(name)
        try:
            await api.request("POST", CRD_PATH, body=crd)
        except AlreadyExists:
            current = await api.request("GET", f"{CRD_PATH}/{name}")
            version = current["metadata"]["resourceVersion"]
            replacement = {**crd, "metadata": {**crd["metadata"], "resourceVersion": version}}
            await api.request("PUT", f"{CRD_PATH}/{name}", body=replacement)
    for name in names:
        while not _established(await api.request("GET", f"{CRD_PATH}/{name}")):
            await trio.sleep(ESTABLISHED_POLL)
    return names


def _established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
