"""The generated CRDs: current on disk, structural, bounded by the codec's limits, in step with it.

No API server here: a small validator for the OpenAPI subset the CRDs use
stands in for one, and structural-schema rules are checked by walking the
schema, so a schema a v1.20 kube-apiserver would refuse fails here first.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from kruntimes.adapters.kubernetes import crds
from kruntimes.adapters.kubernetes.crd_docs import DOC_PATH, schema_of, update_doc
from kruntimes.codec import (
    ValidationError,
    run_from_dict,
    run_queue_from_dict,
    run_queue_to_dict,
    run_to_dict,
    runtime_from_dict,
    runtime_to_dict,
)
from kruntimes.codec import limits as L
from kruntimes.codec.checks import wire_names
from kruntimes.codec.durations import parse_duration_ns
from kruntimes.codec.quantities import parse_quantity
from kruntimes.codec.syntax import (
    dns_label_problem,
    dns_subdomain_problem,
    env_name_problem,
    label_value_problem,
)
from kruntimes.codec.validation import _IMMUTABLE_SPEC
from kruntimes.model import ConditionStatus, Phase, RunSpec
from kruntimes.testing.builders import affinity, condition, make_run, retry_policy

ROOT = Path(__file__).resolve().parents[3]
VARIANTS = {
    f"{name}{'+cel' if rules else ''}": (fn, rules)
    for name, fn in (
        ("run", crds.run_crd),
        ("runtime", crds.runtime_crd),
        ("runqueue", crds.run_queue_crd),
    )
    for rules in (False, True)
}


def variant(name: str) -> dict[str, Any]:
    fn, rules = VARIANTS[name]
    return fn(validation_rules=rules)


# --- the files on disk ---------------------------------------------------------------------


@pytest.mark.parametrize("rel", sorted(crds.crd_files()))
def test_checked_in_crd_file_is_current(rel: str) -> None:
    path = ROOT / rel
    assert path.exists(), f"{rel} is missing: run python scripts/gen_crds.py"
    assert path.read_text() == crds.crd_files()[rel], (
        f"{rel} is stale: run python scripts/gen_crds.py"
    )


def test_crd_reference_doc_is_current() -> None:
    text = (ROOT / DOC_PATH).read_text()
    assert update_doc(text) == text, f"{DOC_PATH} is stale: run python scripts/gen_crds.py"


def test_gen_crds_check_passes_on_a_current_tree() -> None:
    script = ROOT / "scripts" / "gen_crds.py"
    done = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_files_hold_one_crd_each_and_the_plain_ones_install_on_1_20() -> None:
    files = crds.crd_files()
    assert len(files) == 9
    for rel, text in files.items():
        assert text.startswith(crds.HEADER)
        (doc,) = list(yaml.safe_load_all(text))
        if not rel.startswith(crds.CEL_DIR):
            assert "x-kubernetes-validations" not in json.dumps(doc), rel
    plain = [f for f in files if f.startswith(crds.CRD_DIRS[1])]
    assert sorted(plain) == [
        "reference_deployment/charts/kruntimes/crds/kruntimes.io_runqueues.yaml",
        "reference_deployment/charts/kruntimes/crds/kruntimes.io_runs.yaml",
        "reference_deployment/charts/kruntimes/crds/kruntimes.io_runtimes.yaml",
    ]


@pytest.mark.parametrize("rules", [False, True])
def test_rendered_yaml_loads_back_to_the_manifests(rules: bool) -> None:
    text = crds.render_crds_yaml(validation_rules=rules)
    assert text.startswith(crds.HEADER)
    assert list(yaml.safe_load_all(text)) == crds.crd_manifests(validation_rules=rules)


# --- names, columns, versions --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fn", "plural", "kind", "short"),
    [
        (crds.run_crd, "runs", "Run", "rn"),
        (crds.runtime_crd, "runtimes", "Runtime", "rt"),
        (crds.run_queue_crd, "runqueues", "RunQueue", "rq"),
    ],
)
def test_names_version_and_subresources(fn: Any, plural: str, kind: str, short: str) -> None:
    crd = fn()
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == f"{plural}.kruntimes.io"
    spec = crd["spec"]
    assert spec["group"] == "kruntimes.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "plural": plural,
        "singular": kind.lower(),
        "kind": kind,
        "listKind": f"{kind}List",
        "shortNames": [short],
        "categories": ["kruntimes"],
    }
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}


def _columns(crd: Mapping[str, Any]) -> list[tuple[str, str, str, int]]:
    return [
        (c["name"], c["jsonPath"], c["type"], c.get("priority", 0))
        for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]
    ]


def test_printer_columns() -> None:
    assert _columns(crds.run_crd()) == [
        ("Phase", ".status.phase", "string", 0),
        ("Assigned Pod", ".status.assignedPod", "string", 0),
        ("Runtime", ".spec.runtime", "string", 0),
        ("Attempt", ".status.attempt", "integer", 1),
        ("Queue", ".spec.queue", "string", 1),
        ("Message", ".status.message", "string", 0),
        ("Age", ".metadata.creationTimestamp", "date", 0),
    ]
    assert _columns(crds.runtime_crd()) == [
        ("Image", ".spec.template.spec.containers[0].image", "string", 0),
        ("Replicas", ".spec.replicas", "integer", 0),
        ("Ready", ".status.readyReplicas", "integer", 0),
        ("Age", ".metadata.creationTimestamp", "date", 0),
    ]
    assert _columns(crds.run_queue_crd()) == [
        ("Weight", ".spec.weight", "number", 0),
        ("Cohort", ".spec.cohort", "string", 0),
        ("Pending", ".status.pending", "integer", 0),
        ("Admitted", ".status.admitted", "integer", 0),
        ("Age", ".metadata.creationTimestamp", "date", 0),
    ]


@pytest.mark.parametrize("fn", crds.CRD_FUNCTIONS)
def test_printer_columns_point_at_schema_fields_of_their_type(fn: Any) -> None:
    crd = fn()
    for name, path, kind, _ in _columns(crd):
        if path.startswith(".metadata"):
            continue
        node = schema_of(crd)
        for part in path.strip(".").split("."):
            if node.get("x-kubernetes-preserve-unknown-fields") and "properties" not in node:
                break  # e.g. a Pod template: not spelled out
            node = node["properties"][part]
        else:
            assert node["type"] == kind, name


def test_server_supports_validation_rules_from_1_25() -> None:
    assert not crds.server_supports_validation_rules(1, 20)
    assert not crds.server_supports_validation_rules(1, 24)
    assert crds.server_supports_validation_rules(1, 25)
    assert crds.server_supports_validation_rules(1, 31)
    assert crds.server_supports_validation_rules(2, 0)


# --- structural schema rules ---------------------------------------------------------------

ALLOWED_KEYS = {
    "type", "format", "description", "enum", "default", "minLength", "maxLength", "pattern",
    "minimum", "exclusiveMinimum", "maximum", "maxItems", "maxProperties", "required",
    "properties",
    "additionalProperties", "items", "anyOf", "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys", "x-kubernetes-validations",
}  # fmt: skip
TYPES = {"object", "array", "string", "integer", "number", "boolean"}
INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]


def walk(node: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every schema node with its path: `.name` for properties, `[]` items, `{}` map values."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), Mapping):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), Mapping):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


def structural_problems(root: Mapping[str, Any]) -> list[str]:
    """What a kube-apiserver's structural-schema check (v1.20 on) would refuse, roughly."""
    problems = []
    metadata = root.get("properties", {}).get("metadata", {})
    if set(metadata) - {"type", "properties"} or metadata.get("type") != "object":
        problems.append(".metadata: only type object and name/generateName constraints")
    if set(metadata.get("properties", {})) - {"name", "generateName"}:
        problems.append(".metadata: only name and generateName may be constrained")
    for name in ("apiVersion", "kind"):
        if root["properties"][name] != {"type": "string"}:
            problems.append(f".{name} must be a plain string")
    for path, node in walk(root):
        problems += [f"{path}: {p}" for p in _node_problems(node)]
    return problems


def _node_problems(node: Mapping[str, Any]) -> Iterator[str]:
    if unknown := set(node) - ALLOWED_KEYS:
        yield f"keys not allowed: {sorted(unknown)}"
    kind = node.get("type")
    if node.get("x-kubernetes-int-or-string"):
        if kind is not None or node.get("anyOf") != INT_OR_STRING:
            yield "int-or-string: no type, anyOf [integer, string]"
        if node.get("x-kubernetes-preserve-unknown-fields"):
            yield "int-or-string and preserve-unknown-fields exclude each other"
    elif kind not in TYPES:
        yield f"every node needs a type, got {kind!r}"
    elif "anyOf" in node:
        yield "anyOf only in the int-or-string form"
    if ("properties" in node or "additionalProperties" in node) and kind != "object":
        yield "properties need type object"
    if "properties" in node and "additionalProperties" in node:
        yield "properties and additionalProperties exclude each other"
    if "additionalProperties" in node and not isinstance(node["additionalProperties"], Mapping):
        yield "additionalProperties must be a schema"
    if (kind == "array") != isinstance(node.get("items"), Mapping):
        yield "arrays, and only arrays, have one items schema"
    if missing := set(node.get("required", ())) - set(node.get("properties", {})):
        yield f"required fields not in properties: {sorted(missing)}"
    if node.get("x-kubernetes-preserve-unknown-fields") and kind != "object":
        yield "preserve-unknown-fields on a non-object"
    stringy = kind == "string" or node.get("x-kubernetes-int-or-string")
    numeric = kind in ("integer", "number") or node.get("x-kubernetes-int-or-string")
    if not stringy and {"minLength", "maxLength", "pattern"} & set(node):
        yield "string bounds on a non-string"
    if not numeric and {"minimum", "maximum", "exclusiveMinimum"} & set(node):
        yield "numeric bounds on a non-number"
    if "exclusiveMinimum" in node and (
        "minimum" not in node or node["exclusiveMinimum"] is not True
    ):
        yield "exclusiveMinimum is a boolean next to a minimum"
    if "maxItems" in node and kind != "array":
        yield "maxItems on a non-array"
    if "maxProperties" in node and kind != "object":
        yield "maxProperties on a non-object"
    if "pattern" in node:
        re.compile(node["pattern"])
    for value in node.get("enum", ()):
        if validate(dict(node, enum=None), value):
            yield f"enum value {value!r} does not fit the type"
    if "default" in node and (errors := validate(node, node["default"])):
        yield f"default does not validate: {errors}"
    if node.get("x-kubernetes-list-type") == "map":
        items = node.get("items", {})
        for key in node.get("x-kubernetes-list-map-keys", ()):
            if key not in items.get("required", ()):
                yield f"list-map key {key!r} must be required"
            if items.get("properties", {}).get(key, {}).get("type") not in ("string", "integer"):
                yield f"list-map key {key!r} must be a scalar"
    for rule in node.get("x-kubernetes-validations", ()):
        if set(rule) != {"rule", "message"} or not rule["message"] or "\n" in rule["message"]:
            yield f"a validation rule needs a rule and a one-line message: {rule}"


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_schema_is_structural(name: str) -> None:
    root = schema_of(variant(name))
    assert root["type"] == "object"
    assert structural_problems(root) == []


def test_the_structural_check_catches_what_it_should() -> None:
    bad = {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
            "spec": {
                "properties": {"a": {"type": "string", "maximum": 3}},
                "required": ["b"],
            },
            "status": {"type": "array"},
            "x": {"type": "integer", "default": "one"},
        },
    }
    problems = "\n".join(structural_problems(bad))
    for expected in (
        ".metadata: only name and generateName",
        ".spec: every node needs a type",
        ".spec: required fields not in properties",
        ".spec.a: numeric bounds on a non-number",
        ".status: arrays, and only arrays",
        ".x: default does not validate",
    ):
        assert expected in problems


def test_spec_and_status_keep_unknown_fields_like_the_codec() -> None:
    for crd in crds.crd_manifests():
        props = schema_of(crd)["properties"]
        for part in ("spec", "status"):
            assert props[part]["x-kubernetes-preserve-unknown-fields"] is True
            assert props[part]["properties"], "known fields stay typed"


def test_every_integer_is_int64_and_every_timestamp_date_time() -> None:
    for crd in crds.crd_manifests():
        for path, node in walk(schema_of(crd)):
            if node.get("type") == "integer":
                assert node.get("format") == "int64", path
            if path.endswith(("Time", "Timestamp", "createdAt")):
                assert node.get("format") == "date-time", path


# --- the limits ------------------------------------------------------------------------------


def at(crd: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    """The schema node at `spec.env[].name`-style paths (`{}` for map values)."""
    node = schema_of(crd)
    for part in re.findall(r"[^.\[\]{}]+|\[\]|\{\}", path):
        node = (
            node["items"]
            if part == "[]"
            else node["additionalProperties"]
            if part == "{}"
            else node["properties"][part]
        )
    return node


RUN, RUNTIME, QUEUE = crds.run_crd(), crds.runtime_crd(), crds.run_queue_crd()
AFFINITY_LISTS = [
    f"spec.affinity.{d}.{k}DuringSchedulingIgnoredDuringExecution"
    for d in ("runAffinity", "runAntiAffinity")
    for k in ("required", "preferred")
]
EXPECTED_LIMITS: dict[str, list[tuple[Mapping[str, Any], str, str, Any]]] = {
    "metadata.name (Runtime)": [(RUNTIME, "metadata.name", "maxLength", L.RUNTIME_NAME_MAX)],
    "spec.runtime": [
        (RUN, "spec.runtime", "maxLength", L.RUNTIME_NAME_MAX),
        (RUN, "spec.runtime", "minLength", 1),
    ],
    "spec.source.inline": [(RUN, "spec.source.inline", "maxLength", L.INLINE_MAX_BYTES)],
    "spec.source.inlinePath": [(RUN, "spec.source.inlinePath", "maxLength", L.INLINE_PATH_MAX)],
    "spec.source.repoURL": [(RUN, "spec.source.repoURL", "maxLength", L.REPO_URL_MAX)],
    "spec.source.commitSHA": [(RUN, "spec.source.commitSHA", "maxLength", L.COMMIT_SHA_MAX)],
    "spec.mode": [(RUN, "spec", "required", ["runtime", "mode"])],
    "spec.mode.task.entrypoint": [
        (RUN, "spec.mode.task.entrypoint", "maxLength", L.ENTRYPOINT_MAX)
    ],
    "spec.mode.task.args": [
        (RUN, "spec.mode.task.args", "maxItems", L.ARGS_MAX_ITEMS),
        (RUN, "spec.mode.task.args[]", "maxLength", L.ARG_MAX),
    ],
    "spec.mode.function.handler": [
        (RUN, "spec.mode.function.handler", "maxLength", L.HANDLER_MAX),
        (RUN, "spec.mode.function", "required", ["handler"]),
    ],
    "spec.mode.function.idleTimeoutSeconds": [
        (RUN, "spec.mode.function.idleTimeoutSeconds", "minimum", L.IDLE_TIMEOUT_MIN_SECONDS)
    ],
    "spec.workspace.name": [(RUN, "spec.workspace.name", "maxLength", L.NAME_MAX)],
    "spec.workspace.kind": [(RUN, "spec.workspace.kind", "enum", [L.WORKSPACE_KIND])],
    "spec.workspace.apiGroup": [(RUN, "spec.workspace.apiGroup", "enum", [L.WORKSPACE_API_GROUP])],
    "spec.affinity.*.{required,preferred}DuringSchedulingIgnoredDuringExecution": [
        (RUN, p, "maxItems", L.AFFINITY_TERMS_MAX) for p in AFFINITY_LISTS
    ],
    "spec.affinity.*.preferred...[i].weight": [
        (RUN, f"{AFFINITY_LISTS[1]}[].weight", "minimum", L.WEIGHT_MIN),
        (RUN, f"{AFFINITY_LISTS[1]}[].weight", "maximum", L.WEIGHT_MAX),
    ],
    "spec.affinity.*[i].labelSelector": [
        (RUN, f"{AFFINITY_LISTS[0]}[]", "required", ["labelSelector"])
    ],
    "spec.affinity.*[i].topologyKey": [
        (RUN, f"{AFFINITY_LISTS[0]}[].topologyKey", "enum", list(L.TOPOLOGY_KEYS))
    ],
    "spec.resources.requests": [(RUN, "spec.resources.requests{}", "minimum", 0)],
    "spec.env": [
        (RUN, "spec.env", "maxItems", L.ENV_MAX_ITEMS),
        (RUN, "spec.env", "x-kubernetes-list-map-keys", ["name"]),
    ],
    "spec.env[i].name": [(RUN, "spec.env[].name", "minLength", 1)],
    "spec.timeout": [(RUN, "spec.timeout", "pattern", crds.DURATION_PATTERN)],
    "spec.retryPolicy.maxAttempts": [
        (RUN, "spec.retryPolicy.maxAttempts", "minimum", L.MAX_ATTEMPTS_MIN),
        (RUN, "spec.retryPolicy.maxAttempts", "maximum", L.MAX_ATTEMPTS_MAX),
    ],
    "spec.retryPolicy.backoff": [
        (RUN, "spec.retryPolicy.backoff", "pattern", crds.DURATION_PATTERN)
    ],
    "spec.retryPolicy.retryableReasons": [
        (RUN, "spec.retryPolicy.retryableReasons", "maxItems", L.RETRYABLE_REASONS_MAX),
        (RUN, "spec.retryPolicy.retryableReasons[]", "enum", list(L.RETRYABLE_REASONS)),
    ],
    "spec.ttlSecondsAfterFinished": [(RUN, "spec.ttlSecondsAfterFinished", "minimum", 0)],
    "spec.priority": [
        (RUN, "spec.priority", "minimum", L.PRIORITY_MIN),
        (RUN, "spec.priority", "maximum", L.PRIORITY_MAX),
    ],
    "spec.priorityClassName": [
        (RUN, "spec.priorityClassName", "maxLength", L.NAME_MAX),
        (RUN, "spec.priorityClassName", "pattern", crds.DNS_SUBDOMAIN_PATTERN),
    ],
    "spec.queue": [
        (RUN, "spec.queue", "maxLength", L.LABEL_MAX),
        (RUN, "spec.queue", "pattern", crds.DNS_LABEL_PATTERN),
    ],
    "spec.gang.name": [
        (RUN, "spec.gang.name", "maxLength", L.LABEL_MAX),
        (RUN, "spec.gang.name", "pattern", crds.DNS_LABEL_PATTERN),
        (RUN, "spec.gang", "required", ["name", "size"]),
    ],
    "spec.gang.size": [
        (RUN, "spec.gang.size", "minimum", L.GANG_SIZE_MIN),
        (RUN, "spec.gang.size", "maximum", L.GANG_SIZE_MAX),
    ],
    "spec.gang.timeoutSeconds": [
        (RUN, "spec.gang.timeoutSeconds", "minimum", 0),
        (RUN, "spec.gang.timeoutSeconds", "exclusiveMinimum", True),
    ],
    "spec.array.completions": [
        (RUN, "spec.array.completions", "minimum", L.ARRAY_COMPLETIONS_MIN),
        (RUN, "spec.array.completions", "maximum", L.ARRAY_COMPLETIONS_MAX),
        (RUN, "spec.array", "required", ["completions"]),
    ],
    "spec.array.parallelism": [(RUN, "spec.array.parallelism", "minimum", 1)],
    "status.array.completedIndexes, status.array.failedIndexes": [
        (RUN, f"status.array.{name}Indexes", "maxLength", L.ARRAY_INDEXES_MAX)
        for name in ("completed", "failed")
    ],
    "status.array.active, .succeeded, .failed": [
        (RUN, f"status.array.{name}", "minimum", 0) for name in ("active", "succeeded", "failed")
    ],
    "metadata.name (RunQueue)": [(QUEUE, "metadata.name", "maxLength", L.LABEL_MAX)],
    "spec.quota, spec.borrowingLimit (RunQueue)": [
        (QUEUE, "spec.quota{}", "minimum", 0),
        (QUEUE, "spec.borrowingLimit{}", "minimum", 0),
    ],
    "spec.weight (RunQueue)": [
        (QUEUE, "spec.weight", "minimum", 0),
        (QUEUE, "spec.weight", "exclusiveMinimum", True),
        (QUEUE, "spec.weight", "maximum", L.QUEUE_WEIGHT_MAX),
    ],
    "spec.cohort (RunQueue)": [
        (QUEUE, "spec.cohort", "maxLength", L.LABEL_MAX),
        (QUEUE, "spec.cohort", "pattern", crds.DNS_LABEL_PATTERN),
    ],
    "spec.maxPending (RunQueue)": [(QUEUE, "spec.maxPending", "minimum", 0)],
    "spec.starvationLimitSeconds (RunQueue)": [
        (QUEUE, "spec.starvationLimitSeconds", "minimum", 0)
    ],
    "status.pending, status.admitted (RunQueue)": [
        (QUEUE, "status.pending", "minimum", 0),
        (QUEUE, "status.admitted", "minimum", 0),
    ],
    "status.usage (RunQueue)": [(QUEUE, "status.usage{}", "minimum", 0)],
    "status.message": [(RUN, "status.message", "maxLength", L.MESSAGE_MAX)],
    "status.outputs": [
        (RUN, "status.outputs", "maxProperties", L.OUTPUTS_MAX_KEYS),
        (RUN, "status.outputs{}", "maxLength", L.OUTPUT_VALUE_MAX_BYTES),
    ],
    "status.artifactRefs": [(RUN, "status.artifactRefs", "maxItems", L.ARTIFACT_REFS_MAX)],
    "status.artifactRefs[i].driver": [
        (RUN, "status.artifactRefs[].driver", "enum", list(L.ARTIFACT_DRIVERS))
    ],
    "status.artifactRefs[i].type": [
        (RUN, "status.artifactRefs[].type", "enum", list(L.ARTIFACT_TYPES))
    ],
    "status.artifactRefs[i].sizeBytes": [(RUN, "status.artifactRefs[].sizeBytes", "minimum", 0)],
    "status.conditions": [
        (crd, "status.conditions", "maxItems", L.CONDITIONS_MAX) for crd in (RUN, RUNTIME, QUEUE)
    ]
    + [(crd, "status.conditions[].type", "minLength", 1) for crd in (RUN, RUNTIME, QUEUE)],
    "status.attempt": [(RUN, "status.attempt", "minimum", 1)],
    "spec.replicas (Runtime)": [(RUNTIME, "spec.replicas", "minimum", 0)],
    "spec.port (Runtime)": [
        (RUNTIME, "spec.port", "minimum", L.PORT_MIN),
        (RUNTIME, "spec.port", "maximum", L.PORT_MAX),
    ],
    "spec.capacity.resources (Runtime)": [(RUNTIME, "spec.capacity.resources{}", "minimum", 0)],
    "spec.artifactStore.driver (Runtime)": [
        (RUNTIME, "spec.artifactStore.driver", "enum", list(L.ARTIFACT_DRIVERS)),
        (RUNTIME, "spec.artifactStore", "required", ["driver"]),
    ],
    "status.readyReplicas (Runtime)": [(RUNTIME, "status.readyReplicas", "minimum", 0)],
}
NOT_IN_SCHEMA = {
    "metadata.name": "the API server checks object names itself",
    "metadata.namespace": "the API server checks namespaces itself",
    "metadata.labels": "the API server checks labels itself",
    "spec.affinity.*[i].labelSelector.matchExpressions[j]": "library only (unbounded list)",
    "status.assignedPod, status.assignedPodUID": "a CEL rule (1.25+)",
    "any integer": "format int64 (test_every_integer_is_int64...)",
    "any timestamp": "format date-time (test_every_integer_is_int64...)",
    "any number": "type number; finiteness is the library's (JSON has no NaN)",
    "spec.array, spec.gang": "a CEL rule (1.25+)",
    "metadata.name (array Run)": "library only: a rule across metadata and spec",
    "values kept verbatim": "library only: depth and size of free-form JSON",
}


def test_every_limit_is_in_the_schema_or_explained() -> None:
    fields = [limit.field for limit in L.LIMITS]
    unaccounted = set(fields) - EXPECTED_LIMITS.keys() - NOT_IN_SCHEMA.keys()
    assert not unaccounted, f"map these limits to the CRD schema (or explain): {unaccounted}"
    assert not (EXPECTED_LIMITS.keys() | NOT_IN_SCHEMA.keys()) - set(fields), "stale entries"


@pytest.mark.parametrize("field", sorted(EXPECTED_LIMITS))
def test_limit_appears_in_the_schema(field: str) -> None:
    for crd, path, key, value in EXPECTED_LIMITS[field]:
        assert at(crd, path).get(key) == value, f"{path}.{key} for {field!r}"


def test_defaults_are_the_upstream_ones_and_the_model_s() -> None:
    defaults = {
        (kind, path): node["default"]
        for kind, crd in (("Run", RUN), ("Runtime", RUNTIME))
        for path, node in walk(schema_of(crd))
        if "default" in node
    }
    assert defaults == {
        ("Run", ".spec.retryPolicy.maxAttempts"): 1,
        ("Run", ".spec.retryPolicy.backoff"): "1s",
        ("Runtime", ".spec.port"): 9091,
        ("Runtime", ".spec.replicas"): 1,
    }


# --- validation rules (CEL) -----------------------------------------------------------------


def rules_by_path(crd: Mapping[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path, node in walk(schema_of(crd)):
        for rule in node.get("x-kubernetes-validations", ()):
            found.setdefault(path, []).append(rule["rule"])
    return found


@pytest.mark.parametrize("fn", crds.CRD_FUNCTIONS)
def test_no_validation_rules_without_the_flag(fn: Any) -> None:
    assert rules_by_path(fn()) == {}
    assert "x-kubernetes-validations" not in json.dumps(fn(validation_rules=False))


def test_validation_rules_cover_the_codec_s_cross_field_rules() -> None:
    rules = rules_by_path(crds.run_crd(validation_rules=True))
    joined = {path: " ; ".join(r) for path, r in rules.items()}
    assert "has(self.inline)" in joined[".spec.source"]
    assert "has(self.repoURL)" in joined[".spec.source"]
    assert "has(self.commitSHA)" in joined[".spec.source"]
    assert "has(self.task) != has(self.function)" in joined[".spec.mode"]
    assert "oldSelf.cancelRequested" in joined[".spec"]
    assert "has(self.value)" in joined[".spec.env[]"]
    assert "has(self.assignedPod) == has(self.assignedPodUID)" in joined[".status"]
    assert "!(has(self.array) && has(self.gang))" in joined[".spec"]
    assert "self.priority == 0" in joined[".spec"]
    assert "self.parallelism <= self.completions" in joined[".spec.array"]
    wire = wire_names(RunSpec)
    for attr in _IMMUTABLE_SPEC:
        name = wire[attr]
        assert "self == oldSelf" in rules[f".spec.{name}"], name
        if name not in ("runtime", "mode"):
            assert f"has(self.{name}) == has(oldSelf.{name})" in joined[".spec"], name
    assert rules_by_path(crds.runtime_crd(validation_rules=True)) == {}
    assert rules_by_path(crds.run_queue_crd(validation_rules=True)) == {}


@pytest.mark.parametrize("fn", crds.CRD_FUNCTIONS)
def test_validation_rules_name_existing_fields_and_transitions_sit_on_correlatable_nodes(
    fn: Any,
) -> None:
    """`self.x` must be a declared property; `oldSelf` cannot sit under an atomic list."""
    crd = fn(validation_rules=True)
    for path, node in walk(schema_of(crd)):
        for rule in node.get("x-kubernetes-validations", ()):
            for name in re.findall(r"\b(?:self|oldSelf)\.(\w+)", rule["rule"]):
                assert name in node.get("properties", {}), (path, rule["rule"])
            if "oldSelf" in rule["rule"]:
                assert "[]" not in path, f"transition rule under a list: {path}"


# --- documents validate against the schema --------------------------------------------------

_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def validate(node: Mapping[str, Any], value: Any, path: str = "") -> list[str]:
    """The errors an API server would report (the subset of OpenAPI the CRDs use), plus
    fields it would prune (unknown where unknown fields are not kept; metadata is the
    API server's own)."""
    errors: list[str] = []
    if node.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            return [f"{path}: must be an integer or a string"]
    else:
        python = {
            "object": dict,
            "array": list,
            "string": str,
            "integer": int,
            "boolean": bool,
            "number": int | float,
        }[node["type"]]
        if not isinstance(value, python) or (node["type"] == "integer" and value is True):
            return [f"{path}: must be {node['type']}"]
        if isinstance(value, bool) and node["type"] in ("integer", "number"):
            return [f"{path}: must be {node['type']}"]
    if node.get("enum") is not None and value not in node["enum"]:
        errors.append(f"{path}: not one of {node['enum']}")
    if isinstance(value, str):
        if len(value) > node.get("maxLength", len(value)):
            errors.append(f"{path}: longer than {node['maxLength']}")
        if len(value) < node.get("minLength", 0):
            errors.append(f"{path}: shorter than {node['minLength']}")
        if "pattern" in node and not re.search(node["pattern"], value):
            errors.append(f"{path}: does not match {node['pattern']}")
        if node.get("format") == "date-time" and not _TIMESTAMP.fullmatch(value):
            errors.append(f"{path}: not a date-time")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < node.get("minimum", value):
            errors.append(f"{path}: below {node['minimum']}")
        if node.get("exclusiveMinimum") and value == node["minimum"]:
            errors.append(f"{path}: not above {node['minimum']}")
        if value > node.get("maximum", value):
            errors.append(f"{path}: above {node['maximum']}")
    if isinstance(value, list):
        if len(value) > node.get("maxItems", len(value)):
            errors.append(f"{path}: more than {node['maxItems']} items")
        keys = node.get("x-kubernetes-list-map-keys")
        seen = set()
        for i, item in enumerate(value):
            errors += validate(node["items"], item, f"{path}[{i}]")
            if keys and isinstance(item, dict):
                key = tuple(item.get(k) for k in keys)
                if key in seen:
                    errors.append(f"{path}[{i}]: duplicate entry for key {key}")
                seen.add(key)
    if isinstance(value, dict):
        if len(value) > node.get("maxProperties", len(value)):
            errors.append(f"{path}: more than {node['maxProperties']} properties")
        for name in node.get("required", ()):
            if name not in value:
                errors.append(f"{path}.{name}: required")
        props, extra = node.get("properties", {}), node.get("additionalProperties")
        for key, item in value.items():
            if key in props:
                errors += validate(props[key], item, f"{path}.{key}")
            elif extra is not None:
                errors += validate(extra, item, f"{path}[{key}]")
            elif not node.get("x-kubernetes-preserve-unknown-fields") and path != ".metadata":
                errors.append(f"{path}.{key}: unknown field (would be pruned)")
    return errors


def with_defaults(node: Mapping[str, Any], value: Any) -> Any:
    """`value` as the API server stores it: schema defaults filled in."""
    if isinstance(value, dict):
        result = dict(value)
        for name, child in node.get("properties", {}).items():
            if name not in result and "default" in child:
                result[name] = child["default"]
            if name in result:
                result[name] = with_defaults(child, result[name])
        return result
    if isinstance(value, list) and "items" in node:
        return [with_defaults(node["items"], item) for item in value]
    return value


def _rich_run_doc() -> dict[str, Any]:
    return {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "Run",
        "metadata": {"name": "build-42", "namespace": "ci", "labels": {"app": "web"}},
        "spec": {
            "runtime": "bash",
            "source": {"inline": "make test\n", "inlinePath": "steps/test.sh"},
            "mode": {"task": {"entrypoint": "/bin/bash", "args": ["steps/test.sh", "--fast"]}},
            "env": [
                {"name": "CI", "value": "true"},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "ci", "key": "token"}}},
            ],
            "timeout": "10m0s",
            "retryPolicy": {"retryableReasons": ["PodGone", "ExecutionLost"]},
            "resources": {"requests": {"runs": 2, "example.com/gpu": "1"}},
            "priority": 5,
        },
        "status": {
            "phase": "Succeeded",
            "assignedPod": "bash-pool-1",
            "assignedPodUID": "abc",
            "message": "exit code 0",
            "startTime": "2024-05-02T01:00:00Z",
            "completionTime": "2024-05-02T01:00:03.500000Z",
            "outputs": {"ROWS": "1204"},
            "artifactRefs": [
                {"name": "report.html", "driver": "s3", "type": "file", "sizeBytes": 48213}
            ],
            "attempt": 2,
            "artifactStore": {"driver": "s3", "s3": {"bucket": "reports"}},
            "conditions": [
                {"type": "Completed", "status": "True", "reason": "RunCompleted", "message": ""}
            ],
        },
    }


def _function_run_doc() -> dict[str, Any]:
    return {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "Run",
        "metadata": {"name": "resize", "namespace": "media"},
        "spec": {
            "runtime": "python",
            "source": {"repoURL": "https://git.example.com/r.git", "commitSHA": "9fceb02d"},
            "mode": {"function": {"handler": "resize.main.handle", "idleTimeoutSeconds": 300}},
            "workspace": {"name": "media-cache"},
            "ttlSecondsAfterFinished": 3600,
        },
        "status": {"phase": "Ready", "endpoint": "http://10.0.3.7:8080"},
    }


def _runtime_doc() -> dict[str, Any]:
    return {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "Runtime",
        "metadata": {"name": "bash", "namespace": "ci"},
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "runtime", "image": "ghcr.io/example/bash:1.2"}]}
            },
            "replicas": 3,
            "daemonImage": "ghcr.io/example/runtimed:0.3",
            "capacity": {"resources": {"runs": "8"}},
            "artifactStore": {"driver": "s3", "s3": {"bucket": "artifacts"}},
            "workspace": {"emptyDir": {}},
        },
        "status": {
            "readyReplicas": 3,
            "conditions": [{"type": "Available", "status": "True", "reason": "AllReady"}],
        },
    }


def _gang_run_doc() -> dict[str, Any]:
    return {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "Run",
        "metadata": {"name": "train-0", "namespace": "ml"},
        "spec": {
            "runtime": "python",
            "mode": {"task": {"entrypoint": "train.py"}},
            "priorityClassName": "high",
            "queue": "team-a",
            "gang": {"name": "train", "size": 4, "timeoutSeconds": 300, "onTimeout": "Fail"},
        },
        "status": {"phase": "Pending", "message": "waiting for 3 more Runs of gang train"},
    }


def _array_run_doc() -> dict[str, Any]:
    return {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "Run",
        "metadata": {"name": "render", "namespace": "media"},
        "spec": {
            "runtime": "bash",
            "mode": {"task": {"entrypoint": "render.sh"}},
            "array": {"completions": 1000, "parallelism": 50, "compactStatus": True},
        },
        "status": {
            "phase": "Running",
            "array": {"active": 50, "succeeded": 120, "completedIndexes": "0-119"},
        },
    }


def _run_queue_doc() -> dict[str, Any]:
    return {
        "apiVersion": "kruntimes.io/v1alpha1",
        "kind": "RunQueue",
        "metadata": {"name": "team-a", "namespace": "ml"},
        "spec": {
            "quota": {"runs": 100, "example.com/gpu": "8"},
            "weight": 2,
            "cohort": "research",
            "borrowingLimit": {"example.com/gpu": "4"},
            "maxPending": 1000,
            "queueingStrategy": "StrictFIFO",
            "starvationLimitSeconds": 0.5,
        },
        "status": {
            "pending": 3,
            "admitted": 40,
            "usage": {"runs": "40"},
            "conditions": [{"type": "Active", "status": "True"}],
        },
    }


def _built_runs() -> list[dict[str, Any]]:
    return [
        run_to_dict(make_run("plain")),
        run_to_dict(
            make_run(
                "busy",
                labels={"app": "web"},
                requests={"runs": 2, "example.com/gpu": 1},
                affinity=affinity(required=[{"app": "db"}], anti_preferred=[(50, {"app": "web"})]),
                retry=retry_policy(3, 2.0, ["PodGone", "Timeout"]),
                cancel_requested=True,
                phase=Phase.RUNNING,
                attempt=2,
                pod="bash-0",
                conditions=[condition("Scheduled", ConditionStatus.TRUE, "Assigned", 1.7e9)],
            )
        ),
        run_to_dict(run_from_dict(_rich_run_doc())),
        run_to_dict(run_from_dict(_function_run_doc())),
        run_to_dict(run_from_dict(_gang_run_doc())),
        run_to_dict(run_from_dict(_array_run_doc())),
    ]


DOCUMENTS = [
    *[(RUN, doc) for doc in _built_runs()],
    (RUN, _rich_run_doc()),
    (RUN, _function_run_doc()),
    (RUNTIME, runtime_to_dict(runtime_from_dict(_runtime_doc()))),
    (RUNTIME, _runtime_doc()),
    (RUN, _gang_run_doc()),
    (RUN, _array_run_doc()),
    (QUEUE, _run_queue_doc()),
    (QUEUE, run_queue_to_dict(run_queue_from_dict(_run_queue_doc()))),
]
DECODERS = {id(RUN): run_from_dict, id(RUNTIME): runtime_from_dict, id(QUEUE): run_queue_from_dict}


@pytest.mark.parametrize(("crd", "doc"), DOCUMENTS)
def test_documents_the_codec_writes_or_accepts_validate(crd: Any, doc: dict[str, Any]) -> None:
    assert validate(schema_of(crd), doc) == []


@pytest.mark.parametrize(("crd", "doc"), DOCUMENTS)
def test_server_defaults_do_not_change_what_the_codec_reads(crd: Any, doc: dict[str, Any]) -> None:
    stored = with_defaults(schema_of(crd), doc)
    decode = DECODERS[id(crd)]
    assert decode(stored) == decode(doc)


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node = doc
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return doc


_ENV = [{"name": f"V{i}", "value": "x"} for i in range(L.ENV_MAX_ITEMS + 1)]
_CONDITIONS = [{"type": f"T{i}", "status": "True"} for i in range(L.CONDITIONS_MAX + 1)]
_TERM = {"labelSelector": {"matchLabels": {"a": "b"}}}
BOUNDARIES = [
    # (crd, path, value at the limit (both accept), value past it (both refuse))
    (
        RUN,
        "spec.source",
        {"inline": "a" * L.INLINE_MAX_BYTES},
        {"inline": "a" * (L.INLINE_MAX_BYTES + 1)},
    ),
    (
        RUN,
        "spec.source",
        {"repoURL": "h" * L.REPO_URL_MAX},
        {"repoURL": "h" * (L.REPO_URL_MAX + 1)},
    ),
    (RUN, "spec.mode.task.args", ["a"] * L.ARGS_MAX_ITEMS, ["a"] * (L.ARGS_MAX_ITEMS + 1)),
    (RUN, "spec.mode.task.args", ["a" * L.ARG_MAX], ["a" * (L.ARG_MAX + 1)]),
    (RUN, "spec.env", _ENV[:-1], _ENV),
    (RUN, "spec.env", [{"name": "A", "value": "1"}], [{"name": "A"}, {"name": "A"}]),
    (RUN, "spec.env", [{"name": "A"}], [{"name": "A=B"}]),
    (RUN, "spec.runtime", "r" * L.RUNTIME_NAME_MAX, "r" * (L.RUNTIME_NAME_MAX + 1)),
    (RUN, "spec.runtime", "bash", ""),
    (RUN, "spec.retryPolicy", {"maxAttempts": L.MAX_ATTEMPTS_MAX}, {"maxAttempts": 0}),
    (RUN, "spec.retryPolicy", {"retryableReasons": ["PodGone"]}, {"retryableReasons": ["Nope"]}),
    (RUN, "spec.retryPolicy", {"backoff": "1m30s"}, {"backoff": "soon"}),
    (RUN, "spec.timeout", "1.5h", "10 minutes"),
    (RUN, "spec.resources", {"requests": {"runs": "2k"}}, {"requests": {"runs": "lots"}}),
    (RUN, "spec.ttlSecondsAfterFinished", 0, -1),
    (RUN, "spec.priority", -5, 2**31),
    (
        RUN,
        "spec.affinity",
        {"runAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_TERM] * 32}},
        {"runAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_TERM] * 33}},
    ),
    (RUN, "status.message", "m" * L.MESSAGE_MAX, "m" * (L.MESSAGE_MAX + 1)),
    (
        RUN,
        "status.outputs",
        {f"K{i}": "v" for i in range(L.OUTPUTS_MAX_KEYS)},
        {f"K{i}": "v" for i in range(L.OUTPUTS_MAX_KEYS + 1)},
    ),
    (RUN, "status.conditions", _CONDITIONS[:-1], _CONDITIONS),
    (RUN, "status.phase", "Timeout", "Bogus"),
    (RUN, "status.attempt", 1, 0),
    (RUNTIME, "spec.port", L.PORT_MAX, L.PORT_MAX + 1),
    (RUNTIME, "spec.replicas", 0, -1),
    (RUNTIME, "spec.artifactStore", {"driver": "filesystem"}, {"driver": "ftp"}),
    (RUN, "spec.priorityClassName", "high.example.com", "High"),
    (RUN, "spec.queue", "q" * L.LABEL_MAX, "q" * (L.LABEL_MAX + 1)),
    (RUN, "spec.queue", "team-a", "team.a"),
    (RUN, "spec.gang", {"name": "g", "size": L.GANG_SIZE_MAX}, {"name": "g", "size": 0}),
    (RUN, "spec.gang", {"name": "g", "size": 2, "timeoutSeconds": 0.1},
     {"name": "g", "size": 2, "timeoutSeconds": 0}),
    (RUN, "spec.gang", {"name": "g", "size": 2}, {"name": "G", "size": 2}),
    (RUN, "spec.gang", {"name": "g", "size": 2, "onTimeout": "KeepWaiting"},
     {"name": "g", "size": 2, "onTimeout": "Retry"}),
    (RUN, "spec.array", {"completions": L.ARRAY_COMPLETIONS_MAX},
     {"completions": L.ARRAY_COMPLETIONS_MAX + 1}),
    (RUN, "spec.array", {"completions": 3, "parallelism": 1},
     {"completions": 3, "parallelism": 0}),
    (RUN, "status.array", {"active": 0}, {"active": -1}),
    (QUEUE, "spec.weight", L.QUEUE_WEIGHT_MAX, L.QUEUE_WEIGHT_MAX + 1),
    (QUEUE, "spec.weight", 0.001, 0),
    (QUEUE, "spec.cohort", "c" * L.LABEL_MAX, "Research"),
    (QUEUE, "spec.quota", {"runs": "1k"}, {"runs": "many"}),
    (QUEUE, "spec.borrowingLimit", {"gpu": 0}, {"gpu": "lots"}),
    (QUEUE, "spec.maxPending", 0, -1),
    (QUEUE, "spec.starvationLimitSeconds", 0, -0.5),
    (QUEUE, "spec.queueingStrategy", "BestEffortFIFO", "LIFO"),
    (QUEUE, "status.admitted", 0, -1),
    (QUEUE, "status.usage", {"runs": 3}, {"runs": "3 runs"}),
]  # fmt: skip


@pytest.mark.parametrize(("crd", "path", "ok", "bad"), BOUNDARIES)
def test_the_library_and_the_api_server_agree_at_the_limits(
    crd: Any, path: str, ok: Any, bad: Any
) -> None:
    base = {id(RUN): _function_run_doc, id(RUNTIME): _runtime_doc, id(QUEUE): _run_queue_doc}[
        id(crd)
    ]()
    if path.startswith("spec.mode.task"):
        base["spec"]["mode"] = {"task": {"entrypoint": "main.sh"}}
    decode = DECODERS[id(crd)]
    good, broken = _set(base, path, ok), _set(base, path, bad)
    assert validate(schema_of(crd), good) == []
    decode(good)
    assert validate(schema_of(crd), broken) != []
    with pytest.raises(ValidationError):
        decode(broken)


# --- the schema's patterns accept what the codec accepts ----------------------------------


def _accepts(check: Any, text: str) -> bool:
    try:
        return check(text) is None
    except ValueError:
        return False


@pytest.mark.parametrize(
    ("pattern", "check", "samples"),
    [
        (
            crds.DURATION_PATTERN,
            parse_duration_ns,
            ["0", "1s", "1m30s", "1.5h", ".5s", "1.s", "500ms", "3µs", "3μs", "2us", "+1s",
             "-1s", "1h2m3s4ms5us6ns", "", "s", "1", "1d", "1 s", "1s ", "1.2.3s", "--1s"],
        ),
        (
            crds.QUANTITY_PATTERN,
            parse_quantity,
            ["8", "2k", "1Ki", "1e3", "1.5k", "+3", "0", ".5k", "1.", "500m", "-1", "1.5", "",
             "k", "1Kb", "1 k", "abc", "1e", "0x10"],
        ),
        (
            crds.LABEL_VALUE_PATTERN,
            label_value_problem,
            ["bash", "a", "A-b_c.d", "x" * 63, "-a", "a-", "a b", "é", "a/b"],
        ),
        (
            crds.DNS_SUBDOMAIN_PATTERN,
            dns_subdomain_problem,
            ["a", "a.b-c", "0a", "A", "a..b", "-a", "a.", "a_b"],
        ),
        (
            crds.DNS_LABEL_PATTERN,
            dns_label_problem,
            ["a", "a-b", "0a", "a" * 63, "A", "a.b", "-a", "a-", "a_b", ""],
        ),
        (
            crds.ENV_NAME_PATTERN,
            env_name_problem,
            ["PATH", "a b", "x~", "", "A=B", "é", "tab\t"],
        ),
    ],
)  # fmt: skip
def test_patterns_never_refuse_what_the_codec_accepts(
    pattern: str, check: Any, samples: list[str]
) -> None:
    matched = {s for s in samples if re.search(pattern, s)}
    accepted = {s for s in samples if _accepts(check, s)}
    assert accepted <= matched, f"refused by the schema only: {accepted - matched}"
    checks_only_syntax = check in (
        label_value_problem,
        dns_subdomain_problem,
        dns_label_problem,
        env_name_problem,
    )
    if checks_only_syntax:
        assert matched == accepted
