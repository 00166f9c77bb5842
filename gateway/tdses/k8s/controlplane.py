"""A local Kubernetes control plane with fake nodes, to rehearse a deploy without a container runtime.

    tdses k8s cluster up     etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
    tdses k8s cluster down

Kubernetes' own binaries at the release the manifests are validated against, built from Go modules
(k8s/controlplane/, like the Fabric toolchain) and cached by version. The API server runs with RBAC and
the default admission plugins (PodSecurity, ResourceQuota, DefaultStorageClass, …) on loopback; kwok's
nodes turn scheduled pods Running and Ready and complete Jobs' pods, and its volume stages stand in for
a default StorageClass. So real validation, defaulting, admission, authorization, server-side apply,
controllers and scheduling are exercised; nothing runs in the pods (no kubelet, images, CNI or storage).
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tdses import buildcache
from tdses.fabric import toolchain
from tdses.k8s.errors import KubernetesError
from tdses.paths import REPO_ROOT
from tdses.ports import free_ports
from tdses.probes import accepts

CONTROLPLANE = REPO_ROOT / "k8s" / "controlplane"
DEFAULT_DIR = Path(os.environ.get("TDSES_K8S_CLUSTER_DIR", REPO_ROOT / ".state" / "k8s-cluster"))

# The stages of kwok's module that make its nodes behave (its own kwokctl applies the same ones).
KWOK_STAGES = ("node/fast/node-initialize.yaml", "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
               "pod/fast/pod-ready.yaml", "pod/fast/pod-complete.yaml", "pod/fast/pod-delete.yaml",
               "volume/fast/pvc-provision.yaml", "volume/fast/pv-bind.yaml", "volume/fast/pv-delete.yaml",
               "volume/fast/pvc-delete.yaml")
STORAGE_CLASS = "volume/fast/storage-class.yaml"  # the default StorageClass its volume stages provision
FAKE_NODE = "kwok.x-k8s.io/node"
# kwok does not default the options of a configuration file: these are its defaults, but for the selector
# of the nodes it manages and no debugging or profiling server.
KWOK_OPTIONS = {"manageAllNodes": False, "manageNodesWithAnnotationSelector": f"{FAKE_NODE}=fake",
                "cidr": "10.0.0.0/24", "podPlayStageParallelism": 4, "nodePlayStageParallelism": 4,
                "nodeLeaseParallelism": 4, "podsOnNodeSyncParallelism": 1, "enablePodsOnNodeSyncListPager": True,
                "enablePodsOnNodeSyncStreamWatch": False, "enableDebuggingHandlers": False,
                "enableProfilingHandler": False, "enableContentionProfiling": False}
NODE_CAPACITY = {"cpu": "32", "memory": "128Gi", "pods": "110"}
SERVICE_CIDR = "10.96.0.0/16"  # addresses the API server hands out; nothing is ever sent to them
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def toolchains() -> list[toolchain.Toolchain]:
    return toolchain.toolchains(CONTROLPLANE)


def kubernetes_release() -> str:
    """The Kubernetes release of the control plane, e.g. v1.33.13 (k8s/controlplane/toolchain.yaml)."""
    return next(t.release for t in toolchains() if t.name == "kubernetes")


def kubernetes_minor() -> str:
    """1.33 for v1.33.13: the version the manifests are validated against and PodSecurity is pinned to."""
    return ".".join(kubernetes_release().removeprefix("v").split(".")[:2])


def binaries() -> dict[str, Path]:
    """Component name -> binary; a KubernetesError when the control plane is not built yet."""
    found = {}
    for chain in toolchains():
        for name in chain.binaries:
            found[name] = chain.bin_dir() / name
    missing = [str(p) for p in found.values() if not p.is_file()]
    if missing or not _stages_dir().is_dir():
        raise KubernetesError("the local control plane is not built: run `tdses k8s cluster install`")
    return found


def _stages_dir() -> Path:
    kwok = next(t for t in toolchains() if t.name == "kwok")
    return kwok.bin_dir().with_name("stages")


def install(out=sys.stderr) -> dict[str, Path]:
    """Build the control plane unless the cache has it (minutes, once per version); return its binaries."""
    for chain in toolchains():
        toolchain.install(chain, out)
    stages = _stages_dir()
    buildcache.ensure(stages, stages.is_dir, _copy_stages, out)
    return binaries()


def _copy_stages(into: Path) -> None:
    kwok = next(t for t in toolchains() if t.name == "kwok")
    listed = subprocess.run(["go", "list", "-m", "-f", "{{.Dir}}", kwok.module], cwd=kwok.source,
                            capture_output=True, text=True)
    if listed.returncode != 0:
        raise KubernetesError(f"cannot find kwok's module: {listed.stderr.strip()}")
    source = Path(listed.stdout.strip()) / "kustomize" / "stage"
    for stage in (*KWOK_STAGES, STORAGE_CLASS):
        shutil.copy(source / stage, into / Path(stage).name)


@dataclass(frozen=True)
class Ports:
    etcd: int
    etcd_peer: int
    apiserver: int


class LocalCluster:
    """The control plane's files and processes under one directory (kubeconfig, PKI, logs, etcd data)."""

    def __init__(self, directory: Path = DEFAULT_DIR, nodes: int = 3):
        self.dir = directory
        self.nodes = nodes

    @property
    def kubeconfig(self) -> Path:
        """An administrator's kubeconfig (group system:masters)."""
        return self.dir / "kubeconfig"

    @property
    def _pids(self) -> Path:
        return self.dir / "pids.json"

    def running(self) -> dict[str, int]:
        """Component -> pid of the components of this directory that are alive."""
        try:
            recorded = json.loads(self._pids.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return {name: pid for name, pid in recorded.items() if _alive(pid, self.dir)}

    def up(self, out=sys.stderr, timeout: float = 90) -> None:
        """Start every component (a fresh cluster), wait until nodes are Ready; idempotent while it runs."""
        if len(self.running()) == len(COMPONENTS):
            print(f"the local cluster is already running: KUBECONFIG={self.kubeconfig}", file=out)
            return
        self.down(out=None)
        found = binaries()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True, mode=0o700)
        (self.dir / "logs").mkdir()
        ports = Ports(*free_ports(3))
        tokens = self._credentials(ports)
        deadline = time.monotonic() + timeout
        pids: dict[str, int] = {}
        try:
            for name in COMPONENTS:
                pids[name] = self._start(name, found[name], self._args(name, ports))
                self._pids.write_text(json.dumps(pids))
                if name == "etcd":
                    self._wait(lambda: accepts(ports.etcd), deadline, "etcd to listen")
                elif name == "kube-apiserver":
                    self._wait(lambda: _healthy(ports.apiserver, tokens["admin"], self.dir / "ca.crt"),
                               deadline, "the API server to be ready")
                    self._bootstrap()
            self._add_nodes()
            self._wait(self._nodes_ready, deadline, "kwok's nodes to be Ready")
            self._wait(self._default_service_account, deadline, "the controller-manager's service accounts")
        except BaseException:
            self.down(out=None)
            raise
        if out is not None:
            print(f"local cluster {kubernetes_release()} up: {self.nodes} kwok node(s), API server on "
                  f"https://127.0.0.1:{ports.apiserver}\n  export KUBECONFIG={self.kubeconfig}", file=out)

    def down(self, out=sys.stderr) -> None:
        """Stop the components started from this directory (by the pids it recorded); keep its files."""
        running = self.running()
        for name in reversed(COMPONENTS):
            if name in running:
                _stop(running[name])
        self._pids.unlink(missing_ok=True)
        if out is not None:
            print("local cluster stopped" if running else "no local cluster was running", file=out)

    def client(self):
        """A kubernetes.client.ApiClient for the administrator's kubeconfig."""
        from kubernetes import config
        return config.new_client_from_config(config_file=str(self.kubeconfig))

    # --- files ----------------------------------------------------------------------------------------

    def _credentials(self, ports: Ports) -> dict[str, str]:
        key, cert = _self_signed_ca()
        server_key, server_cert = _server_cert(key, cert)
        _write_private(self.dir / "ca.crt", cert.public_bytes(serialization.Encoding.PEM))
        _write_private(self.dir / "apiserver.key", _pem_key(server_key))
        _write_private(self.dir / "apiserver.crt", server_cert.public_bytes(serialization.Encoding.PEM))
        _write_private(self.dir / "service-account.key", _pem_key(ec.generate_private_key(ec.SECP256R1())))
        account_key = serialization.load_pem_private_key((self.dir / "service-account.key").read_bytes(), None)
        _write_private(self.dir / "service-account.pub", account_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        # Static tokens: user name, uid, groups. The controllers' users are those RBAC's defaults bind.
        users = {"admin": ("admin", "system:masters"),
                 "kube-controller-manager": ("system:kube-controller-manager", ""),
                 "kube-scheduler": ("system:kube-scheduler", ""),
                 "kwok": ("kwok", "system:masters")}
        tokens = {name: secrets.token_urlsafe(32) for name in users}
        lines = [f'{tokens[n]},{user},{n},"{groups}"' if groups else f"{tokens[n]},{user},{n}"
                 for n, (user, groups) in users.items()]
        _write_private(self.dir / "tokens.csv", ("\n".join(lines) + "\n").encode())
        server = f"https://127.0.0.1:{ports.apiserver}"
        for name, token in tokens.items():
            path = self.kubeconfig if name == "admin" else self.dir / f"{name}.kubeconfig"
            _write_private(path, yaml.safe_dump(_kubeconfig(server, self.dir / "ca.crt", name, token)).encode())
        return tokens

    def _args(self, name: str, ports: Ports) -> list[str]:
        d = self.dir
        if name == "etcd":
            peer = f"http://127.0.0.1:{ports.etcd_peer}"
            return [f"--data-dir={d / 'etcd'}", f"--listen-client-urls=http://127.0.0.1:{ports.etcd}",
                    f"--advertise-client-urls=http://127.0.0.1:{ports.etcd}", f"--listen-peer-urls={peer}",
                    f"--initial-advertise-peer-urls={peer}", f"--initial-cluster=default={peer}",
                    "--log-level=warn", "--unsafe-no-fsync"]  # a throw-away store: no fsync, much faster
        if name == "kube-apiserver":
            return [f"--etcd-servers=http://127.0.0.1:{ports.etcd}", "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1", f"--secure-port={ports.apiserver}",
                    f"--tls-cert-file={d / 'apiserver.crt'}", f"--tls-private-key-file={d / 'apiserver.key'}",
                    f"--token-auth-file={d / 'tokens.csv'}", "--authorization-mode=Node,RBAC",
                    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                    f"--service-account-key-file={d / 'service-account.pub'}",
                    f"--service-account-signing-key-file={d / 'service-account.key'}",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    # On loopback the API server cannot publish itself as the `kubernetes` Service's endpoint.
                    "--endpoint-reconciler-type=none", "--profiling=false"]
        if name == "kube-controller-manager":
            return [f"--kubeconfig={d / 'kube-controller-manager.kubeconfig'}", "--leader-elect=false",
                    "--secure-port=0", f"--root-ca-file={d / 'ca.crt'}", "--use-service-account-credentials=true",
                    f"--service-account-private-key-file={d / 'service-account.key'}"]
        if name == "kube-scheduler":
            return [f"--kubeconfig={d / 'kube-scheduler.kubeconfig'}", "--leader-elect=false", "--secure-port=0"]
        config = d / "kwok.yaml"
        stages = _stages_dir()
        config.write_text("---\n".join(
            [yaml.safe_dump({"apiVersion": "config.kwok.x-k8s.io/v1alpha1", "kind": "KwokConfiguration",
                             "options": KWOK_OPTIONS})]
            + [(stages / Path(s).name).read_text() for s in KWOK_STAGES]))
        return [f"--kubeconfig={d / 'kwok.kubeconfig'}", f"--config={config}", "--node-lease-duration-seconds=40"]

    def _start(self, name: str, binary: Path, args: list[str]) -> int:
        log = open(self.dir / "logs" / f"{name}.log", "ab")
        with log:
            # A session of its own: `cluster up` returns while the components keep running.
            proc = subprocess.Popen([str(binary), *args], cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        return proc.pid

    def _wait(self, ready, deadline: float, what: str) -> None:
        while not ready():
            dead = [n for n, pid in json.loads(self._pids.read_text()).items() if not _alive(pid, self.dir)]
            if dead:
                raise KubernetesError(f"{', '.join(dead)} of the local cluster exited: see {self.dir / 'logs'}\n"
                                      + _tail(self.dir / "logs" / f"{dead[0]}.log"))
            if time.monotonic() > deadline:
                raise KubernetesError(f"timed out waiting for {what}: see {self.dir / 'logs'}")
            time.sleep(0.2)

    # --- objects --------------------------------------------------------------------------------------

    def _bootstrap(self) -> None:
        from kubernetes import client
        storage = yaml.safe_load((_stages_dir() / Path(STORAGE_CLASS).name).read_text())
        with self.client() as api:
            client.StorageV1Api(api).create_storage_class(storage)

    def _add_nodes(self) -> None:
        from kubernetes import client
        with self.client() as api:
            core = client.CoreV1Api(api)
            for i in range(self.nodes):
                name = f"kwok-node-{i}"
                core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {
                    "name": name, "annotations": {FAKE_NODE: "fake"},
                    "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "kwok"}}})
                core.patch_node_status(name, {"status": {"capacity": NODE_CAPACITY, "allocatable": NODE_CAPACITY}})

    def _nodes_ready(self) -> bool:
        from kubernetes import client
        with self.client() as api:
            nodes = client.CoreV1Api(api).list_node().items
        ready = [n for n in nodes if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])]
        return len(ready) == self.nodes

    def _default_service_account(self) -> bool:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException
        with self.client() as api:
            try:
                client.CoreV1Api(api).read_namespaced_service_account("default", "default")
            except ApiException:
                return False
        return True


def _alive(pid: int, directory: Path) -> bool:
    """The pid runs and is a component of this directory (not a process that reused the number)."""
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and Path(cwd) == directory.resolve()


def _stop(pid: int, grace: float = 10) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our child (a test fixture): reap it
                return
        except ChildProcessError:  # started by an earlier `cluster up`
            if not Path(f"/proc/{pid}").exists():
                return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _healthy(port: int, token: str, ca: Path) -> bool:
    request = urllib.request.Request(f"https://127.0.0.1:{port}/readyz", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=str(ca)), timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _write_private(path: Path, data: bytes) -> None:
    path.touch(mode=0o600)
    path.write_bytes(data)


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _self_signed_ca():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tdses local cluster CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _server_cert(ca_key, ca_cert):
    import ipaddress
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    names = [x509.DNSName(n) for n in ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc")]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([*names, x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def _kubeconfig(server: str, ca: Path, user: str, token: str) -> dict:
    return {"apiVersion": "v1", "kind": "Config", "current-context": "tdses-local",
            "clusters": [{"name": "tdses-local", "cluster": {"server": server, "certificate-authority": str(ca)}}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": "tdses-local", "context": {"cluster": "tdses-local", "user": user}}]}
