"""A real kube-apiserver + etcd on loopback for tests (the idea of controller-runtime's envtest).

    env = KubeTestEnv.start()          # etcd + kube-apiserver on free ports
    env.install_crds(crd_manifests())  # and wait until they are Established
    ns = env.new_namespace("e2e")      # a fresh namespace per test
    ...                                 # env.kubeconfig is a file the kubernetes client reads
    env.stop()

No kubelet, scheduler or controller-manager runs: tests play those parts.
Binaries come from `KUBEBUILDER_ASSETS` (a folder holding `kube-apiserver`
and `etcd`), then the test cache (`$KRUNTIMES_TEST_CACHE/bin`, default
`~/.cache/kruntimes/testenv/bin`), then `PATH` (Debian's `etcd-server` puts
`etcd` there). `scripts/build-kube-apiserver` builds the apiserver from
Debian's source package when none is found. Only the standard library is used
here, so a broken adapter cannot break the environment that tests it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from attrs import define, field, frozen

ADMIN_TOKEN = "kruntimes-test-admin-token"
READY_WITHIN_SECONDS = 60.0


class KubeEnvError(RuntimeError):
    """The test environment cannot start; the message says what is missing and how to get it."""


def test_cache_dir() -> Path:
    """Where `.ci/run` and `scripts/build-kube-apiserver` put binaries."""
    configured = os.environ.get("KRUNTIMES_TEST_CACHE")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "kruntimes" / "testenv"


def find_binary(name: str) -> Path:
    """`name` from `KUBEBUILDER_ASSETS`, the test cache, then `PATH`; a `KubeEnvError` if absent."""
    places = []
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        places.append(Path(assets) / name)
    places.append(test_cache_dir() / "bin" / name)
    for place in places:
        if place.is_file() and os.access(place, os.X_OK):
            return place
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    hint = {
        "etcd": "install Debian's etcd-server (`apt-get install etcd-server`)",
        "kube-apiserver": "run `scripts/build-kube-apiserver` (builds it from Debian's source)",
    }.get(name, "install it")
    raise KubeEnvError(
        f"no {name} binary: looked in {', '.join(str(p) for p in places)} and PATH; {hint}, "
        "or point KUBEBUILDER_ASSETS at a folder holding kube-apiserver and etcd"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@frozen
class User:
    """A static-token identity for RBAC tests: `token,name,uid,"group1,group2"` in tokens.csv."""

    name: str
    token: str
    groups: tuple[str, ...] = ()


@define
class KubeTestEnv:
    """A running etcd + kube-apiserver pair; `start()` builds one, `stop()` ends it."""

    root: Path
    etcd_port: int
    apiserver_port: int
    authorization_mode: str
    users: tuple[User, ...]
    _etcd: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _apiserver: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _owns_root: bool = field(default=False, repr=False)
    _extra_flags: tuple[str, ...] = field(default=(), repr=False)

    # -- lifecycle ------------------------------------------------------------

    @classmethod
    def start(
        cls,
        root: Path | None = None,
        *,
        authorization_mode: str = "AlwaysAllow",
        users: Sequence[User] = (),
        extra_apiserver_flags: Sequence[str] = (),
    ) -> KubeTestEnv:
        """Start etcd and kube-apiserver under `root` (a temporary folder by default).

        `authorization_mode="RBAC"` enforces RBAC; `users` get static tokens
        (the admin token is always there, in group `system:masters`).
        """
        owns = root is None
        root = Path(tempfile.mkdtemp(prefix="kruntimes-kube-")) if root is None else root
        root.mkdir(parents=True, exist_ok=True)
        env = cls(
            root=root,
            etcd_port=free_port(),
            apiserver_port=free_port(),
            authorization_mode=authorization_mode,
            users=tuple(users),
            owns_root=owns,
            extra_flags=tuple(extra_apiserver_flags),
        )
        try:
            env._write_credentials()
            env._start_etcd()
            env.start_apiserver()
            env.write_kubeconfig(env.kubeconfig, ADMIN_TOKEN)
        except BaseException:
            env.stop()
            raise
        return env

    def stop(self) -> None:
        self.stop_apiserver()
        _terminate(self._etcd)
        self._etcd = None
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> KubeTestEnv:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start_apiserver(self) -> None:
        """(Re)start kube-apiserver on the same port and etcd, and wait until it is ready."""
        binary = find_binary("kube-apiserver")
        certs = self.root / "certs"
        certs.mkdir(exist_ok=True)
        args = [
            str(binary),
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.apiserver_port}",
            f"--cert-dir={certs}",
            f"--token-auth-file={self.root / 'tokens.csv'}",
            f"--authorization-mode={self.authorization_mode}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={self.root / 'sa.key'}",
            f"--service-account-signing-key-file={self.root / 'sa.key'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--disable-admission-plugins=ServiceAccount",
            "--enable-priority-and-fairness=false",
            *self._extra_flags,
        ]
        log = (self.root / "kube-apiserver.log").open("ab")
        self._apiserver = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._wait_ready(self._apiserver, "kube-apiserver", self._apiserver_ready)

    def stop_apiserver(self) -> None:
        _terminate(self._apiserver)
        self._apiserver = None

    # -- what tests use -----------------------------------------------------------

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def ca_file(self) -> Path:
        return self.root / "certs" / "apiserver.crt"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    def write_kubeconfig(self, path: Path, token: str, namespace: str = "default") -> Path:
        """A kubeconfig for `token`'s identity (JSON is valid YAML), current context `test`."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "test",
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": "test", "user": {"token": token}}],
            "contexts": [
                {
                    "name": "test",
                    "context": {"cluster": "test", "user": "test", "namespace": namespace},
                }
            ],
            "current-context": "test",
        }
        path.write_text(json.dumps(config, indent=2))
        return path

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        token: str = ADMIN_TOKEN,
        content_type: str = "application/json",
    ) -> Any:
        """One API call as `token`; JSON in and out; `urllib.error.HTTPError` on failure."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        with urllib.request.urlopen(req, context=self._tls(), timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def apply(self, manifest: Mapping[str, Any]) -> Any:
        """Create `manifest` (a core, apps, rbac, networking or CRD object); 409 is ignored."""
        path = collection_path(manifest)
        try:
            return self.request("POST", path, manifest)
        except urllib.error.HTTPError as error:
            if error.code != 409:
                raise _explain(error) from None
            return None

    def install_crds(self, crds: Sequence[Mapping[str, Any]]) -> None:
        """Create the CRDs and wait until every one is Established and served."""
        for crd in crds:
            self.apply(crd)
        deadline = time.monotonic() + READY_WITHIN_SECONDS
        for crd in crds:
            name = crd["metadata"]["name"]
            while not self._crd_established(name):
                if time.monotonic() > deadline:
                    raise KubeEnvError(f"CRD {name} not Established within {READY_WITHIN_SECONDS}s")
                time.sleep(0.05)
            group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
            version = crd["spec"]["versions"][0]["name"]
            while not self._served(f"/apis/{group}/{version}/{plural}"):
                if time.monotonic() > deadline:
                    raise KubeEnvError(
                        f"{plural}.{group} not served within {READY_WITHIN_SECONDS}s"
                    )
                time.sleep(0.05)

    def new_namespace(self, prefix: str = "test") -> str:
        """A fresh namespace; there is no garbage collector, so each test takes its own."""
        name = f"{prefix[:40].rstrip('-')}-{uuid.uuid4().hex[:8]}"
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return name

    def etcd_revision(self) -> int:
        header = self._etcd_call("/v3/kv/range", {"key": _b64("/"), "limit": 1})["header"]
        return int(header["revision"])

    def compact_etcd(self) -> int:
        """Compact etcd to its current revision (a watch from any older version gets 410)."""
        revision = self.etcd_revision()
        self._etcd_call("/v3/kv/compaction", {"revision": revision, "physical": True})
        return revision

    def bump_and_compact_etcd(self, writes: int = 2) -> int:
        """Write scratch keys straight into etcd, then compact: works while the apiserver is
        down, so every watch it had open resumes from a compacted version (410)."""
        for i in range(writes):
            self._etcd_call("/v3/kv/put", {"key": _b64(f"/kruntimes-test/{i}"), "value": _b64("x")})
        return self.compact_etcd()

    # -- internals ------------------------------------------------------------

    def _write_credentials(self) -> None:
        lines = [f'{ADMIN_TOKEN},admin,admin,"system:masters"']
        lines += [f'{u.token},{u.name},{u.name},"{",".join(u.groups)}"' for u in self.users]
        (self.root / "tokens.csv").write_text("\n".join(lines) + "\n")
        subprocess.run(
            ["openssl", "genrsa", "-out", str(self.root / "sa.key"), "2048"],
            check=True,
            capture_output=True,
        )

    def _start_etcd(self) -> None:
        binary = find_binary("etcd")
        peer = free_port()
        client = f"http://127.0.0.1:{self.etcd_port}"
        args = [
            str(binary),
            f"--data-dir={self.root / 'etcd'}",
            "--unsafe-no-fsync",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=default=http://127.0.0.1:{peer}",
        ]
        log = (self.root / "etcd.log").open("ab")
        self._etcd = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._wait_ready(self._etcd, "etcd", self._etcd_ready)

    def _wait_ready(self, process: subprocess.Popen[bytes], name: str, ready: Any) -> None:
        deadline = time.monotonic() + READY_WITHIN_SECONDS
        while not ready():
            if process.poll() is not None:
                tail = (self.root / f"{name}.log").read_text(errors="replace")[-2000:]
                raise KubeEnvError(f"{name} exited with {process.returncode}:\n{tail}")
            if time.monotonic() > deadline:
                raise KubeEnvError(f"{name} not ready within {READY_WITHIN_SECONDS}s")
            time.sleep(0.05)

    def _etcd_ready(self) -> bool:
        try:
            self._etcd_call("/v3/kv/range", {"key": _b64("/"), "limit": 1})
        except OSError:
            return False
        return True

    def _etcd_call(self, path: str, body: Mapping[str, Any]) -> Any:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.etcd_port}{path}", data=json.dumps(body).encode()
        )
        with urllib.request.urlopen(req, timeout=5) as response:
            return json.loads(response.read())

    def _apiserver_ready(self) -> bool:
        if not self.ca_file.exists():
            return False
        req = urllib.request.Request(self.server + "/readyz")
        req.add_header("Authorization", f"Bearer {ADMIN_TOKEN}")
        try:
            with urllib.request.urlopen(req, context=self._tls(), timeout=5) as response:
                return bool(response.status == 200)
        except (OSError, ssl.SSLError):
            return False

    def _crd_established(self, name: str) -> bool:
        crd = self.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        conditions = crd.get("status", {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    def _served(self, path: str) -> bool:
        try:
            self.request("GET", path + "?limit=1")
        except urllib.error.HTTPError:
            return False
        return True

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def collection_path(manifest: Mapping[str, Any], namespace: str | None = None) -> str:
    """The REST collection a manifest is created in (core, named groups, namespaced or not)."""
    api_version: str = manifest["apiVersion"]
    kind: str = manifest["kind"]
    prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    plural = _PLURALS.get(kind, kind.lower() + "s")
    ns = namespace or manifest.get("metadata", {}).get("namespace")
    if ns and kind not in _CLUSTER_SCOPED:
        return f"{prefix}/namespaces/{ns}/{plural}"
    return f"{prefix}/{plural}"


_PLURALS = {"NetworkPolicy": "networkpolicies", "PodDisruptionBudget": "poddisruptionbudgets"}
_CLUSTER_SCOPED = frozenset(
    {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
)


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def _explain(error: urllib.error.HTTPError) -> Exception:
    body = error.read().decode(errors="replace")
    return KubeEnvError(f"HTTP {error.code} from the test apiserver: {body[:2000]}")


def _terminate(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
