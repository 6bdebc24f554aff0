"""`krt --kubeconfig ...` against a real kube-apiserver: the same commands, the same output.

No scheduler or agent runs here: a test that waits for a Run plays them, writing the
status transitions an agent would (`run_with_agent`).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import yaml
from click.testing import CliRunner, Result
from krt_helpers import RUN, RUN_QUEUE

from kruntimes import status
from kruntimes.adapters.kubernetes.api import KubeApi
from kruntimes.adapters.kubernetes.store import KubeStore
from kruntimes.cli import _common as cli_common
from kruntimes.cli import cli
from kruntimes.cli._common import Cluster as ClusterMode
from kruntimes.cli._common import Exit, Target, explain
from kruntimes.codec import run_from_dict
from kruntimes.model import ObjectMeta, Phase, Run, Runtime, RuntimeSpec
from kruntimes.store import EventType, NotFound
from kruntimes.testing.builders import make_pod
from kruntimes.testing.kube_env import ADMIN_TOKEN, KubeTestEnv, free_port
from kruntimes.testing.kubelet import FakeKubelet


class Cluster:
    """A namespace of the test apiserver, a kubeconfig whose context points there, and krt."""

    def __init__(self, env: KubeTestEnv, tmp_path: Path) -> None:
        self.namespace = env.new_namespace("cli")
        self.kubeconfig = env.write_kubeconfig(
            tmp_path / "kubeconfig", ADMIN_TOKEN, namespace=self.namespace
        )
        self.state_dir = tmp_path / "no-engine"

    def krt(self, *args: str, input: str | None = None) -> Result:
        """`krt --kubeconfig <ours> ARGS`, with no namespace from the environment."""
        env = {"KRUNTIMES_STATE_DIR": str(self.state_dir), "KRUNTIMES_NAMESPACE": None}
        command = ["--kubeconfig", str(self.kubeconfig), *args]
        return CliRunner().invoke(cli, command, env=env, input=input, catch_exceptions=False)

    def store_call(self, work: Callable[[KubeStore], object]) -> object:
        """`await work(store)` with a store of the cluster."""

        async def main() -> object:
            store = KubeStore(KubeApi.from_kubeconfig(self.kubeconfig))
            return await work(store)  # type: ignore[misc]

        return trio.run(main)


@pytest.fixture
def cluster(krt_kube_env: KubeTestEnv, tmp_path: Path) -> Cluster:
    return Cluster(krt_kube_env, tmp_path)


def run_with_agent(cluster: Cluster, final: Phase, *args: str) -> tuple[Result, Run]:
    """`cluster.krt(*args)` in a thread while this one plays scheduler and agent.

    The first Run created in the namespace goes Scheduled, Running, then `final`
    (Succeeded with outputs `answer=42`). Returns krt's result and that final Run.
    """
    results: list[Result] = []

    async def play() -> Run:
        store = KubeStore(KubeApi.from_kubeconfig(cluster.kubeconfig))
        ns = cluster.namespace
        with trio.fail_after(30):
            version = (await store.list_runs(ns)).resource_version
            threading.Thread(target=lambda: results.append(cluster.krt(*args)), daemon=True).start()
            async with store.watch_runs(version, ns) as events:
                async for event in events:
                    if event.type is EventType.ADDED and event.object is not None:
                        run = event.object
                        break
            now = time.time()
            run = await store.update_status(status.bound(run, "bash-pod-1", "uid-1", now))
            run = await store.update_status(status.claimed(run, now + 0.01))
            if final is Phase.SUCCEEDED:
                done = status.succeeded(run, now + 0.02, {"answer": "42"})
            else:
                reason = {Phase.FAILED: "RuntimeError", Phase.TIMEOUT: "Timeout"}.get(
                    final, "Cancelled"
                )
                done = status.finished_unsuccessfully(run, final, reason, "it ended", now + 0.02)
            finished = await store.update_status(done)
            while not results:  # krt sees the end through its watch
                await trio.sleep(0.01)
            return finished

    finished = trio.run(play)
    return results[0], finished


def test_apply_then_get_list_cancel(cluster: Cluster, tmp_path: Path) -> None:
    manifest = tmp_path / "run.yaml"
    manifest.write_text(RUN.format(name="kube-a") + "---\n" + RUN.format(name="kube-b"))
    applied = cluster.krt("apply", "-f", str(manifest))
    assert applied.exit_code == 0, applied.output
    assert applied.stdout.splitlines() == ["run/kube-a created", "run/kube-b created"]
    again = cluster.krt("apply", "-f", str(manifest))
    assert again.stdout.splitlines() == ["run/kube-a unchanged", "run/kube-b unchanged"]

    shown = cluster.krt("get", "kube-a")
    assert shown.exit_code == 0, shown.output
    fields = dict(line.split(":", 1) for line in shown.stdout.splitlines() if ":" in line)
    assert fields["Name"].strip() == "kube-a"
    assert fields["Namespace"].strip() == cluster.namespace  # the context's namespace
    assert fields["Runtime"].strip() == "bash"
    assert fields["Phase"].strip() == "Pending"
    assert fields["Attempt"].strip() == "1 of 1"
    as_yaml = run_from_dict(yaml.safe_load(cluster.krt("get", "kube-a", "-o", "yaml").stdout))
    assert as_yaml.metadata.namespace == cluster.namespace

    listing = json.loads(cluster.krt("list", "-o", "json").stdout)
    assert (listing["apiVersion"], listing["kind"]) == ("v1", "List")
    assert sorted(i["metadata"]["name"] for i in listing["items"]) == ["kube-a", "kube-b"]
    rows = [line.split() for line in cluster.krt("list").stdout.splitlines()]
    assert rows[0] == ["NAME", "RUNTIME", "PHASE", "REASON", "POD", "AGE"]
    assert [row[:3] for row in rows[1:]] == [
        ["kube-a", "bash", "Pending"],
        ["kube-b", "bash", "Pending"],
    ]
    everywhere = cluster.krt("list", "-A").stdout.splitlines()
    assert everywhere[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert [cluster.namespace, "kube-a"] in [line.split()[:2] for line in everywhere]
    pending = yaml.safe_load(cluster.krt("list", "--phase", "pending", "-o", "yaml").stdout)
    assert len(pending["items"]) == 2
    empty = cluster.krt("list", "--runtime", "nothing-here")
    assert (empty.exit_code, empty.stdout, empty.stderr) == (0, "", "No Runs found.\n")

    cancelled = cluster.krt("cancel", "kube-a", "kube-b")
    assert cancelled.exit_code == 0, cancelled.output
    assert cancelled.stdout == "run/kube-a cancel requested\nrun/kube-b cancel requested\n"
    got = json.loads(cluster.krt("get", "kube-a", "-o", "json").stdout)
    assert got["spec"]["cancelRequested"] is True
    described = cluster.krt("get", "kube-a").stdout
    (flag,) = [line for line in described.splitlines() if line.startswith("Cancel requested:")]
    assert flag.split() == ["Cancel", "requested:", "yes"]


def test_runtime_list_and_get(cluster: Cluster) -> None:
    ns = cluster.namespace
    runtime = Runtime(
        ObjectMeta(name="pool", namespace=ns, labels={"kruntimes.io/kind": "bash"}),
        RuntimeSpec(replicas=2, capacity={"runs": 4}),
    )

    async def create(store: KubeStore) -> None:
        await store.create(runtime)
        kubelet = FakeKubelet(store.api)
        await kubelet.put_pod(make_pod("pool-1", "pool", namespace=ns), at=time.time())

    cluster.store_call(create)
    rows = [line.split()[:5] for line in cluster.krt("runtime", "list").stdout.splitlines()]
    assert rows == [
        ["NAME", "KIND", "REPLICAS", "READY", "CAPACITY"],
        ["pool", "bash", "2", "1", "runs=4"],
    ]
    listing = json.loads(cluster.krt("runtime", "list", "-o", "json").stdout)
    assert [i["metadata"]["name"] for i in listing["items"]] == ["pool"]
    one = yaml.safe_load(cluster.krt("runtime", "get", "pool", "-o", "yaml").stdout)
    assert one["spec"]["replicas"] == 2
    assert cluster.krt("runtime", "get", "pool").stdout.splitlines()[1].split()[:4] == [
        "pool", "bash", "2", "1",
    ]  # fmt: skip


def test_run_queues_apply_get_and_delete(cluster: Cluster) -> None:
    manifest = RUN_QUEUE.format(name="team-a", runs=4, weight=2) + "---\n" + RUN.format(name="q1")
    applied = cluster.krt("apply", "-f", "-", input=manifest)
    assert applied.exit_code == 0, applied.output
    assert applied.stdout.splitlines() == ["runqueue/team-a created", "run/q1 created"]
    rows = [line.split() for line in cluster.krt("get", "rq").stdout.splitlines()]
    assert rows == [
        ["NAME", "WEIGHT", "COHORT", "QUOTA", "PENDING", "ADMITTED"],
        ["team-a", "2", "research", "runs=0/4", "0", "0"],
    ]
    one = json.loads(cluster.krt("get", "runqueue", "team-a", "-o", "json").stdout)
    assert (one["kind"], one["metadata"]["namespace"]) == ("RunQueue", cluster.namespace)
    assert one["spec"]["quota"] == {"runs": "4"}
    deleted = cluster.krt("delete", "runqueue", "team-a")
    assert deleted.stdout == "runqueue/team-a deleted\n"
    assert cluster.krt("get", "runqueues").stderr == "No RunQueues found.\n"


def test_run_without_wait_creates_the_run(cluster: Cluster) -> None:
    result = cluster.krt("run", "-r", "bash", "--name", "plain", "-e", "A=1", "--", "echo", "hi")
    assert result.exit_code == 0, result.output
    assert result.stdout == "plain\n"

    async def read(store: KubeStore) -> Run:
        return await store.get_run(cluster.namespace, "plain")

    run = cluster.store_call(read)
    assert isinstance(run, Run)
    assert run.spec.mode.task is not None
    assert list(run.spec.mode.task.args) == ["echo", "hi"]
    generated = cluster.krt("run", "-r", "bash", "-o", "json", "--", "true")
    created = json.loads(generated.stdout)
    assert created["metadata"]["name"].startswith("run-")
    assert created["metadata"]["namespace"] == cluster.namespace


@pytest.mark.parametrize(
    ("final", "code", "last_line"),
    [
        (Phase.SUCCEEDED, 0, "waited Succeeded"),
        (Phase.FAILED, 1, "waited Failed (RuntimeError: it ended)"),
        (Phase.TIMEOUT, 124, "waited Timeout (Timeout: it ended)"),
        (Phase.CANCELLED, 130, "waited Cancelled (Cancelled: it ended)"),
    ],
)
def test_run_wait_exits_with_the_phase(
    cluster: Cluster, final: Phase, code: int, last_line: str
) -> None:
    result, finished = run_with_agent(
        cluster, final, "run", "-r", "bash", "--name", "waited", "--wait", "--", "true"
    )
    assert result.exit_code == code, result.output
    assert result.stdout == ""  # the Run's own output stays in its Pod
    assert result.stderr == last_line + "\n"  # as embedded mode ends
    assert finished.status.phase is final


def test_run_wait_json_prints_the_final_run_with_outputs(cluster: Cluster) -> None:
    result, _ = run_with_agent(
        cluster, Phase.SUCCEEDED, "run", "-r", "bash", "--wait", "-o", "json", "--", "true"
    )
    assert result.exit_code == 0, result.output
    final = json.loads(result.stdout)
    assert final["status"]["phase"] == "Succeeded"
    assert final["status"]["outputs"] == {"answer": "42"}
    shown = cluster.krt("get", final["metadata"]["name"]).stdout
    assert "Outputs:" in shown
    assert "answer=42" in shown
    assert "Pod:" in shown
    assert "bash-pod-1" in shown


def test_an_invalid_manifest_exits_65_with_field_paths(cluster: Cluster, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        RUN.format(name="fine")
        + "---\napiVersion: kruntimes.io/v1alpha1\nkind: Run\nmetadata: {name: Bad_Name}\n"
        "spec: {runtime: bash, mode: {}}\n"
    )
    result = cluster.krt("apply", "-f", str(bad))
    assert result.exit_code == 65
    lines = result.stderr.splitlines()
    assert lines
    assert all(line.startswith("error: document 2: ") for line in lines)
    assert any("metadata.name" in line for line in lines)
    assert any("spec.mode" in line for line in lines)
    assert "No Runs found." in cluster.krt("list").stderr  # nothing was applied


@pytest.mark.parametrize(
    ("command", "kind"),
    [(["get", "nope"], "Run"), (["cancel", "nope"], "Run"), (["logs", "nope"], "Run"),
     (["runtime", "get", "nope"], "Runtime"), (["get", "runqueue", "nope"], "RunQueue"),
     (["delete", "rq", "nope"], "RunQueue")],
)  # fmt: skip
def test_unknown_names_exit_3_with_one_line(
    cluster: Cluster, command: list[str], kind: str
) -> None:
    result = cluster.krt(*command)
    assert result.exit_code == 3
    assert result.stderr == f"error: {kind} {cluster.namespace}/nope not found\n"


@pytest.mark.parametrize("command", ["up", "down"])
def test_up_and_down_are_usage_errors_in_cluster_mode(cluster: Cluster, command: str) -> None:
    result = cluster.krt(command)
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: krt {command} ")
    assert "embedded engine only" in line
    assert not cluster.state_dir.exists()


def test_logs_say_where_the_logs_are(cluster: Cluster) -> None:
    run_with_agent(
        cluster, Phase.SUCCEEDED, "run", "-r", "bash", "--name", "logged", "--wait", "--", "true"
    )
    for args in (["logs", "logged"], ["logs", "-f", "logged"]):
        result = cluster.krt(*args)
        assert result.exit_code == 69
        assert result.stdout == ""
        (line,) = result.stderr.splitlines()
        ns = cluster.namespace
        assert line.startswith(f"error: the logs of Run {ns}/logged are not readable")
        assert (
            f"kubectl exec -n {ns} bash-pod-1 -c kruntimes-agent -- "
            f"cat /workspace/logs/{ns}/logged.jsonl" in line
        )


def test_the_namespace_option_overrides_the_context(cluster: Cluster, tmp_path: Path) -> None:
    manifest = tmp_path / "run.yaml"
    manifest.write_text(RUN.format(name="elsewhere"))
    applied = cluster.krt("apply", "-n", "default", "-f", str(manifest))
    assert applied.exit_code == 0, applied.output
    got = json.loads(cluster.krt("get", "-n", "default", "elsewhere", "-o", "json").stdout)
    assert got["metadata"]["namespace"] == "default"
    assert cluster.krt("get", "elsewhere").exit_code == 3
    cluster.krt("cancel", "-n", "default", "elsewhere")


def test_the_environment_selects_cluster_mode(cluster: Cluster) -> None:
    env = {
        "KRUNTIMES_KUBECONFIG": str(cluster.kubeconfig),
        "KRUNTIMES_STATE_DIR": str(cluster.state_dir),
        "KRUNTIMES_NAMESPACE": None,
    }
    result = CliRunner().invoke(cli, ["list", "-o", "json"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["items"] == []
    up = CliRunner().invoke(cli, ["up"], env=env, catch_exceptions=False)
    assert up.exit_code == 2


def test_an_unreachable_apiserver_exits_69_quickly(
    krt_kube_env: KubeTestEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_common, "KUBE_GIVE_UP_AFTER", 0.2)
    config = json.loads(krt_kube_env.kubeconfig.read_text())
    port = free_port()
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps(config))
    started = time.monotonic()
    for args in (["get", "x"], ["list"], ["runtime", "list"], ["apply", "-f", "-"]):
        result = CliRunner().invoke(
            cli, ["--kubeconfig", str(kubeconfig), *args], input=RUN.format(name="x"),
            env={"KRUNTIMES_NAMESPACE": None}, catch_exceptions=False,
        )  # fmt: skip
        assert result.exit_code == 69, result.output
        (line,) = result.stderr.splitlines()
        assert line == (
            f"error: no Kubernetes apiserver answers at 127.0.0.1:{port} "
            f"(kubeconfig {kubeconfig}): Connection refused"
        ) or (args[0] == "apply" and line.startswith("error: run/x: no Kubernetes apiserver"))
    assert time.monotonic() - started < 20


def test_kubeconfig_problems_are_usage_errors(cluster: Cluster, tmp_path: Path) -> None:
    missing = CliRunner().invoke(cli, ["--kubeconfig", str(tmp_path / "nope"), "list"])
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr
    context = cluster.krt("--context", "nope", "list")
    assert context.exit_code == 2, context.output
    (line,) = context.stderr.splitlines()
    assert line.startswith(f"error: cannot use {cluster.kubeconfig} (context nope): ")


def test_embedded_mode_never_loads_the_kubernetes_client() -> None:
    import subprocess

    code = "import sys, kruntimes.cli, kruntimes.client; print('kubernetes' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout == "False\n"


def test_missing_crds_are_no_engine_not_an_unknown_run(tmp_path: Path) -> None:
    target = Target(tmp_path, None, ClusterMode(tmp_path / "kubeconfig", None))
    missing = NotFound("GET /apis/kruntimes.io/v1alpha1/namespaces/x/runs/y: 404 page not found\n")
    assert explain(missing, target) == (
        [f"the kruntimes CRDs are not installed in the cluster of kubeconfig {tmp_path}/kubeconfig "
         "(docs/installation.md)"],
        Exit.UNAVAILABLE,
    )  # fmt: skip
