"""Probe endpoints, and the command lines of the controller and the agent."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, Counter

from kruntimes.adapters.kubernetes.main import cli
from kruntimes.adapters.kubernetes.pod_agent import PodAgentConfig, PodAgentError
from kruntimes.adapters.kubernetes.probes import ProbeServer, parse_bind_address


def fetch(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_probes_answer_health_readiness_and_metrics() -> None:
    registry = CollectorRegistry()
    Counter("kruntimes_example", "An example.", registry=registry).inc(3)
    ready = False
    server = ProbeServer("127.0.0.1", 0, ready=lambda: ready, registry=registry)
    try:
        assert fetch(server.port, "/healthz") == (200, "ok\n")
        assert fetch(server.port, "/readyz")[0] == 503
        ready = True
        assert fetch(server.port, "/readyz") == (200, "ok\n")
        status, body = fetch(server.port, "/metrics")
        assert status == 200
        assert "kruntimes_example_total 3.0" in body
        assert fetch(server.port, "/nothing")[0] == 404
    finally:
        server.close()


def test_a_probe_server_without_registry_serves_no_metrics() -> None:
    server = ProbeServer("127.0.0.1", 0)
    try:
        assert fetch(server.port, "/metrics")[0] == 404
    finally:
        server.close()


@pytest.mark.parametrize(
    ("address", "expected"),
    [(":8080", ("0.0.0.0", 8080)), ("127.0.0.1:0", ("127.0.0.1", 0)), ("9090", ("0.0.0.0", 9090))],
)
def test_bind_addresses(address: str, expected: tuple[str, int]) -> None:
    assert parse_bind_address(address) == expected


def test_a_bad_bind_address_is_refused() -> None:
    with pytest.raises(ValueError, match="host"):
        parse_bind_address("localhost:http")


def test_agent_configuration_comes_from_the_environment() -> None:
    config = PodAgentConfig.from_env(
        {
            "HOSTNAME": "bash-abcde",
            "POD_NAMESPACE": "team-a",
            "KRUNTIMES_RUNTIME_SOCKET": "/run/kruntimes/runtime.sock",
            "KRUNTIMES_WORK_ROOT": "/workspace",
        }
    )
    assert (config.pod_name, config.namespace, str(config.runtime_socket)) == (
        "bash-abcde",
        "team-a",
        "/run/kruntimes/runtime.sock",
    )
    with_pod_name = PodAgentConfig.from_env(
        {"HOSTNAME": "h", "POD_NAME": "p", "POD_NAMESPACE": "n", "KRUNTIMES_RUNTIME_GRPC": "x:1"}
    )
    assert with_pod_name.pod_name == "p"


def test_agent_configuration_names_what_is_missing() -> None:
    with pytest.raises(PodAgentError, match=r"POD_NAMESPACE.*KRUNTIMES_RUNTIME_SOCKET"):
        PodAgentConfig.from_env({"HOSTNAME": "bash-abcde"})


def test_the_agent_command_refuses_a_missing_environment_as_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["agent"], env={"POD_NAMESPACE": "", "HOSTNAME": ""})
    assert result.exit_code == 2
    assert "POD_NAME or HOSTNAME" in result.output


def test_the_controller_command_documents_its_flags() -> None:
    result = CliRunner().invoke(cli, ["controller", "--help"])
    assert result.exit_code == 0
    for flag in ("--leader-elect", "--namespace", "--metrics-bind-address", "--agent-image"):
        assert flag in result.output
