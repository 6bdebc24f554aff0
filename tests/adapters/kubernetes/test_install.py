"""Installing the CRDs on a real apiserver: rules only where the server has them; re-runnable."""

from __future__ import annotations

import json

import trio
from click.testing import CliRunner

from kruntimes.adapters.kubernetes.api import KubeApi
from kruntimes.adapters.kubernetes.install import CRD_PATH, install_crds, server_version
from kruntimes.adapters.kubernetes.main import cli
from kruntimes.testing.kube_env import KubeTestEnv


def test_install_on_1_20_has_no_validation_rules_and_can_run_again(
    krt_kube_env: KubeTestEnv,
) -> None:
    api = KubeApi.from_kubeconfig(krt_kube_env.kubeconfig)

    async def main() -> tuple[tuple[int, int], list[str], list[str]]:
        version = await server_version(api)
        return version, await install_crds(api), await install_crds(api)

    version, first, again = trio.run(main)
    assert version == (1, 20)
    names = ["runs.kruntimes.io", "runtimes.kruntimes.io", "runqueues.kruntimes.io"]
    assert first == again == names
    stored = krt_kube_env.request("GET", f"{CRD_PATH}/runs.kruntimes.io")
    assert "x-kubernetes-validations" not in json.dumps(stored["spec"])


def test_the_install_command_reports_each_crd(krt_kube_env: KubeTestEnv) -> None:
    result = CliRunner().invoke(cli, ["install-crds", "--kubeconfig", str(krt_kube_env.kubeconfig)])
    assert result.exit_code == 0, result.output
    assert "customresourcedefinition runs.kruntimes.io established" in result.output
    assert "customresourcedefinition runqueues.kruntimes.io established" in result.output
