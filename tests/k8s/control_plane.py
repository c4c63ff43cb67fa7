"""A real Kubernetes control plane on free loopback ports: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, and kwok standing in for the kubelets.

Everything an admission decision, a Helm hook or a controller needs is the real binary; only the
containers do not run (kwok moves pods through the phases a kubelet would report). Its own CA,
serving certificate, service-account keys and bearer token live in a temporary folder.
"""

import json
import secrets
import ssl
import subprocess
from pathlib import Path
from typing import Any, TypeVar

import httpx

from devtools.stack import processes
from devtools.stack.processes import free_port, free_ports, wait_for
from devtools.stack.versions import REPO

TOOLS_BIN = REPO / ".tools" / "bin"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "helm")
KWOK_STAGES = Path(__file__).with_name("kwok-stages.yaml")
# kwok manages the nodes carrying this annotation (and the pods bound to them).
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"
T = TypeVar("T")


def missing_binaries() -> list[str]:
    return [name for name in BINARIES if not (TOOLS_BIN / name).exists()]


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _certificates(folder: Path) -> None:
    """A CA, the API server's serving certificate for 127.0.0.1, and the service-account keys."""
    ca, ca_key = str(folder / "ca.crt"), str(folder / "ca.key")
    server, server_key, request = (
        str(folder / f"apiserver.{ext}") for ext in ("crt", "key", "csr")
    )
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    new_key = ("-newkey", "rsa:2048", "-nodes")
    _openssl("req", "-x509", *new_key, "-days", "1", "-subj", "/CN=k8s-e2e-ca",
             "-keyout", ca_key, "-out", ca)  # fmt: skip
    _openssl("req", *new_key, "-subj", "/CN=kube-apiserver", "-keyout", server_key, "-out", request)
    _openssl("x509", "-req", "-in", request, "-days", "1", "-CA", ca, "-CAkey", ca_key,
             "-CAcreateserial", "-extfile", str(folder / "san.cnf"), "-out", server)  # fmt: skip
    _openssl("genrsa", "-out", str(folder / "sa.key"), "2048")
    _openssl("rsa", "-in", str(folder / "sa.key"), "-pubout", "-out", str(folder / "sa.pub"))


class ControlPlane:
    """Starts the processes in order, each once the previous one answers; `stop` ends them all."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.token = secrets.token_urlsafe(32)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.kubeconfig = folder / "kubeconfig"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        _certificates(folder)
        self.api = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            verify=ssl.create_default_context(cafile=folder / "ca.crt"),
            timeout=30,
        )

    def _start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        # A session of its own: a Ctrl-C of the test run reaches pytest, whose teardown stops it
        # in order (etcd last); should pytest itself be killed, the control plane goes with it.
        process = processes.start(
            [str(TOOLS_BIN / name), *args], self.folder / f"{name}.log", own_session=True
        )
        self.processes[name] = process
        return process

    def _alive(self, process: subprocess.Popen[bytes], name: str) -> None:
        if process.poll() is not None:
            log = (self.folder / f"{name}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log}")

    def start(self) -> None:
        etcd_client, etcd_peer = free_ports(2)
        etcd = self._start(
            "etcd",
            f"--data-dir={self.folder / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_client}",
            f"--advertise-client-urls=http://127.0.0.1:{etcd_client}",
            f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-cluster=default=http://127.0.0.1:{etcd_peer}",
            "--log-level=warn",
        )

        def etcd_healthy() -> bool:
            self._alive(etcd, "etcd")
            try:
                return httpx.get(f"http://127.0.0.1:{etcd_client}/health").status_code == 200
            except httpx.TransportError:
                return False

        wait_for("etcd /health", etcd_healthy)

        # The bearer token belongs to system:masters: the test is the cluster's administrator.
        (self.folder / "tokens.csv").write_text(f"{self.token},k8s-e2e-admin,1,system:masters\n")
        apiserver = self._start(
            "kube-apiserver",
            f"--etcd-servers=http://127.0.0.1:{etcd_client}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--tls-cert-file={self.folder / 'apiserver.crt'}",
            f"--tls-private-key-file={self.folder / 'apiserver.key'}",
            f"--client-ca-file={self.folder / 'ca.crt'}",
            f"--token-auth-file={self.folder / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={self.folder / 'sa.pub'}",
            f"--service-account-signing-key-file={self.folder / 'sa.key'}",
            "--service-cluster-ip-range=10.96.0.0/16",
            # No real network: the `kubernetes` Service would point at a loopback address.
            "--endpoint-reconciler-type=none",
            # It taints new nodes not-ready until the node lifecycle controller, disabled below,
            # sees them Ready. Every other default admission plugin (PodSecurity too) stays on.
            "--disable-admission-plugins=TaintNodesByCondition",
            f"--cert-dir={self.folder / 'apiserver-certs'}",
        )

        def apiserver_ready() -> bool:
            self._alive(apiserver, "kube-apiserver")
            try:
                return self.api.get("/readyz").status_code == 200
            except httpx.TransportError:
                return False

        wait_for("kube-apiserver /readyz", apiserver_ready, timeout=120)
        self.kubeconfig.write_text(json.dumps(self._kubeconfig()))

        self._start(
            "kube-controller-manager",
            f"--kubeconfig={self.kubeconfig}",
            "--leader-elect=false",
            "--secure-port=0",
            f"--service-account-private-key-file={self.folder / 'sa.key'}",
            f"--root-ca-file={self.folder / 'ca.crt'}",
            # No kubelet sends heartbeats on the node's lease: without this controller the fake
            # node would turn NotReady after 40 s and its pods with it.
            "--controllers=*,-node-lifecycle-controller",
        )
        self._start(
            "kube-scheduler",
            f"--kubeconfig={self.kubeconfig}",
            "--leader-elect=false",
            "--secure-port=0",
        )
        self._start(
            "kwok",
            f"--kubeconfig={self.kubeconfig}",
            f"--config={KWOK_STAGES}",
            f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}=fake",
            "--cidr=10.244.0.1/24",
            "--node-ip=10.0.0.1",
            "--node-port=0",
            "--server-address=",
        )
        self.create(
            "/api/v1/nodes",
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": "kwok-node",
                    "annotations": {FAKE_NODE_ANNOTATION: "fake"},
                    "labels": {"kubernetes.io/hostname": "kwok-node", "kubernetes.io/os": "linux"},
                },
            },
        )
        wait_for("the kwok node to be Ready", self._node_ready)
        # Pods need the namespace's `default` ServiceAccount, made by the controller-manager.
        wait_for(
            "the default ServiceAccount",
            lambda: self.api.get("/api/v1/namespaces/default/serviceaccounts/default").is_success,
        )

    def _node_ready(self) -> bool:
        for name, process in self.processes.items():
            self._alive(process, name)
        node = self.api.get("/api/v1/nodes/kwok-node").json()
        conditions = node.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def _kubeconfig(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "k8s-e2e",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority": str(self.folder / "ca.crt"),
                    },
                }
            ],
            "users": [{"name": "admin", "user": {"token": self.token}}],
            "contexts": [{"name": "k8s-e2e", "context": {"cluster": "k8s-e2e", "user": "admin"}}],
            "current-context": "k8s-e2e",
        }

    def stop(self) -> None:
        # Reverse order: the clients first, etcd last.
        for process in reversed(self.processes.values()):
            processes.stop(process, timeout=20)
        self.api.close()

    def create(self, path: str, body: dict[str, Any]) -> httpx.Response:
        response = self.api.post(path, json=body)
        response.raise_for_status()
        return response

    def items(self, path: str) -> list[dict[str, Any]]:
        response = self.api.get(path)
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        return items
