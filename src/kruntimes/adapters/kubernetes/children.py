"""Child objects of a Runtime: where they live, who owns them, and the body of an update.

Ownership is decided by the owner references' uids, so an object left by a
deleted Runtime of the same name is told apart from one another owner
controls (which kruntimes never touches).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kruntimes.model import API_VERSION, RUNTIME_KIND, Runtime

API_GROUP = API_VERSION.split("/", 1)[0]
PLURALS = {
    "ServiceAccount": "serviceaccounts",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "NetworkPolicy": "networkpolicies",
    "Deployment": "deployments",
}


def object_path(obj: Mapping[str, Any]) -> str:
    api_version, kind = str(obj["apiVersion"]), str(obj["kind"])
    prefix = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    meta = obj["metadata"]
    return f"{prefix}/namespaces/{meta['namespace']}/{PLURALS[kind]}/{meta['name']}"


def describe(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')} {meta.get('namespace')}/{meta.get('name')}"


def owner_references(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    refs = (obj.get("metadata") or {}).get("ownerReferences")
    return [r for r in refs if isinstance(r, Mapping)] if isinstance(refs, list) else []


def runtime_owner(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The controller reference to a kruntimes Runtime, if the object has one."""
    for ref in owner_references(obj):
        group = str(ref.get("apiVersion", "")).split("/", 1)[0]
        if ref.get("kind") == RUNTIME_KIND and group == API_GROUP and ref.get("controller"):
            return ref
    return None


def ownership(live: Mapping[str, Any], runtime: Runtime) -> str:
    """Who owns `live`: this Runtime ("ours"), a deleted one of its name ("stale"), or not us."""
    if any(ref.get("uid") == runtime.metadata.uid for ref in owner_references(live)):
        return "ours"
    owner = runtime_owner(live)
    if owner is not None and owner.get("name") == runtime.metadata.name:
        return "stale"
    return "foreign"


def controller_of(live: Mapping[str, Any]) -> str:
    controller = next((r for r in owner_references(live) if r.get("controller")), None)
    if controller is None:
        return "none"
    return f"{controller.get('kind')} {controller.get('name')}"


def merged_update(live: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The PUT body: the live object with the fields kruntimes owns replaced by `desired`.

    The live `resourceVersion` makes the write conditional; labels,
    annotations and owner references others added are kept.
    """
    body = {k: v for k, v in live.items() if k != "status"}
    body.update({k: v for k, v in desired.items() if k != "metadata"})
    meta = dict(live.get("metadata") or {})
    want = desired.get("metadata") or {}
    for field in ("labels", "annotations"):
        merged = {**(meta.get(field) or {}), **(want.get(field) or {})}
        if merged:
            meta[field] = merged
    ours = list(want.get("ownerReferences") or ())
    uids = {ref.get("uid") for ref in ours}
    meta["ownerReferences"] = [r for r in owner_references(live) if r.get("uid") not in uids] + ours
    body["metadata"] = meta
    return body
