"""Markdown tables of the CRDs, read back from the generated schemas.

`docs/crd-reference.md` embeds them between `<!-- name -->` and `<!-- /name -->`
markers; `scripts/gen_crds.py` regenerates them with the YAML files and a test
keeps them current, so the page shows what the API server enforces.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kruntimes.adapters.kubernetes.crds import (
    CRD_FUNCTIONS,
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    DURATION_PATTERN,
    ENV_NAME_PATTERN,
    LABEL_VALUE_PATTERN,
    run_crd,
    run_queue_crd,
    runtime_crd,
)
from kruntimes.codec.reference import replace_sections

DOC_PATH = "docs/crd-reference.md"
_PATTERNS = {
    LABEL_VALUE_PATTERN: "label-value syntax",
    DNS_SUBDOMAIN_PATTERN: "DNS-1123 subdomain",
    DNS_LABEL_PATTERN: "DNS-1123 label",
    ENV_NAME_PATTERN: "printable ASCII without `=`",
}
"""Patterns shown by name; the duration and quantity ones are in the type column."""


def schema_of(crd: Mapping[str, Any]) -> dict[str, Any]:
    """The `openAPIV3Schema` of a CRD's only version."""
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def fields_table_markdown(crd: Mapping[str, Any]) -> str:
    """One row per schema field: path, type, bounds and default; repeated subtrees referred to."""
    rows = ["| field | type | limit | default |", "|---|---|---|---|"]
    root = schema_of(crd)
    top = {k: v for k, v in root["properties"].items() if k not in ("apiVersion", "kind")}
    rows += _rows("", {"properties": top}, set(root.get("required", ())), {})
    return "\n".join(rows) + "\n"


def _rows(
    prefix: str, node: Mapping[str, Any], required: set[str], seen: dict[str, str]
) -> Iterator[str]:
    for name, child in node.get("properties", {}).items():
        if child == {"type": "object"}:
            continue  # metadata: the API server's own schema
        path = f"{prefix}{name}"
        items = child.get("items", {})
        inner, inner_path = (items, f"{path}[]") if "properties" in items else (child, path)
        key = json.dumps(inner, sort_keys=True) if "properties" in inner else ""
        kind = _type(child) + (f", as `{seen[key]}`" if key in seen else "")
        default = f"`{child['default']}`" if "default" in child else ""
        limit = "; ".join(_limits(child, name in required))
        yield f"| `{path}` | {kind} | {limit} | {default} |"
        if key and key not in seen:
            seen[key] = inner_path
            yield from _rows(f"{inner_path}.", inner, set(inner.get("required", ())), seen)


def _type(node: Mapping[str, Any]) -> str:
    if node.get("x-kubernetes-int-or-string"):
        return "quantity (integer or string)"
    kind = node.get("type", "")
    if kind == "array":
        return f"array of {_type(node['items'])}"
    if kind == "object" and "additionalProperties" in node:
        return f"map of {_type(node['additionalProperties'])}"
    if kind == "object" and node.get("x-kubernetes-preserve-unknown-fields"):
        return "object (kept verbatim)" if "properties" not in node else "object"
    if node.get("pattern") == DURATION_PATTERN:
        return "duration"
    if node.get("format") == "date-time":
        return "timestamp"
    return str(kind)


def _limits(node: Mapping[str, Any], required: bool) -> Iterator[str]:
    if required:
        yield "required"
    if "enum" in node:
        yield "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    low, high = node.get("minLength"), node.get("maxLength")
    if high is not None:
        yield f"{low}..{high} characters" if low else f"at most {high} characters"
    elif low:
        yield "not empty"
    if node.get("pattern") in _PATTERNS:
        yield _PATTERNS[node["pattern"]]
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and node.get("exclusiveMinimum"):
        yield f"> {low}" + (f" and <= {high}" if high is not None else "")
    elif low is not None and not node.get("x-kubernetes-int-or-string"):
        yield f"{low}..{high}" if high is not None else f">= {low}"
    if "maxItems" in node:
        yield f"at most {node['maxItems']} items"
    if "maxProperties" in node:
        yield f"at most {node['maxProperties']} keys"
    if "x-kubernetes-list-map-keys" in node:
        yield "keyed by " + ", ".join(f"`{k}`" for k in node["x-kubernetes-list-map-keys"])
    for inner, what in (("items", "each"), ("additionalProperties", "values")):
        sub = node.get(inner, {})
        if "maxLength" in sub:
            yield f"{what} at most {sub['maxLength']} characters"
        if "enum" in sub and inner == "items":
            yield f"{what} one of " + ", ".join(f"`{v}`" for v in sub["enum"])
    if "bytes of UTF-8" in node.get("description", ""):
        yield "kruntimes counts bytes"
    if node.get("x-kubernetes-preserve-unknown-fields") and "properties" in node:
        yield "unknown fields kept"


def printer_columns_markdown() -> str:
    """The columns `kubectl get` shows, per resource."""
    rows = ["| resource | column | JSONPath | type | shown |", "|---|---|---|---|---|"]
    for crd in (make() for make in CRD_FUNCTIONS):
        kind = crd["spec"]["names"]["kind"]
        for col in crd["spec"]["versions"][0]["additionalPrinterColumns"]:
            shown = "with `-o wide`" if col.get("priority") else "always"
            rows.append(
                f"| {kind} | {col['name']} | `{col['jsonPath']}` | {col['type']} | {shown} |"
            )
    return "\n".join(rows) + "\n"


def validation_rules_markdown() -> str:
    """The CEL rules of the 1.25+ variant, where they sit and what they say."""
    rows = ["| resource | at | rule | message |", "|---|---|---|---|"]
    for crd in (make(validation_rules=True) for make in CRD_FUNCTIONS):
        kind = crd["spec"]["names"]["kind"]
        for path, rule in _cel_rules("", schema_of(crd)):
            text = rule["rule"].replace("|", "\\|")
            rows.append(f"| {kind} | `{path or '.'}` | `{text}` | {rule['message']} |")
    return "\n".join(rows) + "\n"


def _cel_rules(path: str, node: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, str]]]:
    for rule in node.get("x-kubernetes-validations", ()):
        yield path, rule
    for name, child in node.get("properties", {}).items():
        yield from _cel_rules(f"{path}.{name}" if path else name, child)
    if "items" in node:
        yield from _cel_rules(f"{path}[]", node["items"])


DOC_SECTIONS: Mapping[str, Callable[[], str]] = {
    "crd-run-fields": lambda: fields_table_markdown(run_crd()),
    "crd-runtime-fields": lambda: fields_table_markdown(runtime_crd()),
    "crd-run-queue-fields": lambda: fields_table_markdown(run_queue_crd()),
    "crd-printer-columns": printer_columns_markdown,
    "crd-validation-rules": validation_rules_markdown,
}
"""Marker name -> generator of the text between `<!-- name -->` and `<!-- /name -->`."""


def update_doc(text: str) -> str:
    """`text` with every generated section regenerated."""
    return replace_sections(text, DOC_SECTIONS)
