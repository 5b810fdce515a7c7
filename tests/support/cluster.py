"""A real Kubernetes control plane on 127.0.0.1, started from the binaries in the tool folder.

`make control-plane` (tools/install_control_plane.sh) builds them from their Go modules:

- etcd, the store;
- kube-apiserver, with throwaway certificates made here (openssl), client-certificate
  authentication and RBAC, so server-side validation, defaulting, admission, CRD schemas and
  immutable fields are the real ones;
- kube-controller-manager and kube-scheduler, the real controllers (Deployments, ReplicaSets,
  Jobs, the ServiceAccount and namespace controllers, ...) and the real scheduler;
- kwok, in place of kubelets: it runs no container but moves nodes and pods through their lives
  as tests/cluster/kwok-stages.yaml says (pods become Ready, Job and Helm test pods succeed, a
  pod labelled `mlrelease.io/simulate: fail` fails).

Everything listens on 127.0.0.1 only, on ports picked free at start-up. Each process is started
here and stopped here by its PID (SIGTERM, then SIGKILL), and the working folder (certificates,
etcd's data, logs) is deleted, whatever happened in between.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOLS_BIN = REPO / ".tools" / "bin"
KWOK_STAGES = REPO / "tests" / "cluster" / "kwok-stages.yaml"
ISTIO_CRDS = REPO / "tests" / "schemas" / "istio-crds.gen.yaml"
CONTROL_PLANE_BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
)
SERVICE_CIDR = "10.96.0.0/16"
NODE_NAME = "kwok-node-0"


class ControlPlaneError(RuntimeError):
    """The control plane could not be started; the message says which part and why."""


def missing_binaries(names: tuple[str, ...] = (*CONTROL_PLANE_BINARIES, "helm")) -> list[str]:
    return [name for name in names if find_binary(name) is None]


def find_binary(name: str) -> Path | None:
    """The tool folder's build of NAME, else (helm only) one on PATH."""
    candidate = TOOLS_BIN / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    if name == "helm" and (found := shutil.which(name)):
        return Path(found)
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Component:
    name: str
    process: subprocess.Popen
    log: Path

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])


@dataclass
class ControlPlane:
    workdir: Path
    kubeconfig: Path
    server: str
    components: list[Component] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def bin_dir(self) -> Path:
        return self.workdir / "bin"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for helm and kubectl: this kubeconfig, the tools first on PATH."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
        env.update(
            KUBECONFIG=str(self.kubeconfig),
            # The cluster's tools, then this Python's scripts (mlrelease), then the rest.
            PATH=os.pathsep.join(
                [str(self.bin_dir), str(Path(sys.executable).parent), os.environ.get("PATH", "")]
            ),
            HELM_CACHE_HOME=str(self.workdir / "helm" / "cache"),
            HELM_CONFIG_HOME=str(self.workdir / "helm" / "config"),
            HELM_DATA_HOME=str(self.workdir / "helm" / "data"),
        )
        env.update(extra)
        return env

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["kubectl", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        return result

    def get(self, kind: str, name: str | None = None, namespace: str | None = None) -> dict:
        args = ["get", kind, *([name] if name else []), "-o", "json"]
        if namespace:
            args += ["--namespace", namespace]
        return json.loads(self.kubectl(*args).stdout)

    def create_namespace(self, name: str) -> None:
        """Create a namespace unless it exists (test modules share the cluster), and wait for
        its default ServiceAccount."""
        if self.kubectl("get", "namespace", name, check=False).returncode:
            self.kubectl("create", "namespace", name)
        # The ServiceAccount controller makes `default`; pods cannot be created before it.
        deadline = time.monotonic() + 60
        while self.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode:
            if time.monotonic() > deadline:
                raise AssertionError(f"no default ServiceAccount in {name} after 60 s")
            time.sleep(0.2)

    def check_running(self) -> None:
        for component in self.components:
            if component.process.poll() is not None:
                raise ControlPlaneError(
                    f"{component.name} exited with {component.process.returncode}:\n"
                    + component.tail()
                )

    def stop(self) -> None:
        """Stop every component by its PID, newest first, then delete the working folder."""
        for component in reversed(self.components):
            stop_process(component.process)
        self.components.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)


def stop_process(process: subprocess.Popen, grace: float = 10) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(grace)


# --- certificates ---------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise ControlPlaneError(f"openssl {' '.join(args)}: {result.stderr}")


def make_certificates(pki: Path) -> None:
    """A CA, the API server's serving certificate, an admin client and the ServiceAccount keys."""
    pki.mkdir(parents=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=mlrelease-test-ca", cwd=pki,
    )  # fmt: skip
    leaves = {
        "apiserver": (
            "/CN=kube-apiserver",
            "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,"
            "DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n",
        ),
        "admin": ("/O=system:masters/CN=mlrelease-test-admin", "extendedKeyUsage=clientAuth\n"),
    }
    for name, (subject, extensions) in leaves.items():
        (pki / f"{name}.ext").write_text(extensions)
        _openssl(
            "req", "-new", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", subject, cwd=pki,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt",
            cwd=pki,
        )  # fmt: skip
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sa.key", cwd=pki)
    _openssl("ec", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)


def write_kubeconfig(path: Path, server: str, pki: Path, namespace: str = "default") -> None:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "mlrelease-test",
                        "cluster": {
                            "server": server,
                            "certificate-authority": str(pki / "ca.crt"),
                        },
                    }
                ],
                "users": [
                    {
                        "name": "admin",
                        "user": {
                            "client-certificate": str(pki / "admin.crt"),
                            "client-key": str(pki / "admin.key"),
                        },
                    }
                ],
                "contexts": [
                    {
                        "name": "mlrelease-test",
                        "context": {
                            "cluster": "mlrelease-test",
                            "user": "admin",
                            "namespace": namespace,
                        },
                    }
                ],
                "current-context": "mlrelease-test",
            },
            indent=2,
        )
    )
    path.chmod(0o600)


# --- start-up -------------------------------------------------------------------------------


def _spawn(plane: ControlPlane, name: str, argv: list[str]) -> Component:
    log = plane.workdir / "logs" / f"{name}.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(plane.bin_dir / argv[0]), *argv[1:]],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=plane.workdir,
        )
    component = Component(name, process, log)
    plane.components.append(component)
    return component


def _wait_until(plane: ControlPlane, what: str, ready, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        plane.check_running()
        try:
            if ready():
                return
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {c.name}\n{c.tail()}" for c in plane.components)
            raise ControlPlaneError(f"{what} not ready after {timeout:.0f} s\n{logs}")
        time.sleep(0.25)


def _http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    with urllib.request.urlopen(url, timeout=2, context=context) as response:
        return response.status == 200


def start(timeout: float = 180) -> ControlPlane:
    """Start etcd, the API server, the controllers, the scheduler and kwok; apply the Istio CRDs.

    On any failure everything already started is stopped before the error is raised.
    """
    missing = missing_binaries()
    if missing:
        raise ControlPlaneError(
            f"not built: {', '.join(missing)} (run `make control-plane`; looked in {TOOLS_BIN})"
        )
    workdir = Path(tempfile.mkdtemp(prefix="mlrelease-cluster-"))
    plane = ControlPlane(workdir, workdir / "kubeconfig", "")
    try:
        _start(plane, timeout)
    except BaseException:
        plane.stop()
        raise
    return plane


def _start(plane: ControlPlane, timeout: float) -> None:
    began = time.monotonic()
    workdir = plane.workdir
    plane.bin_dir.mkdir()
    for name in (*CONTROL_PLANE_BINARIES, "helm"):
        (plane.bin_dir / name).symlink_to(find_binary(name))
    pki = workdir / "pki"
    make_certificates(pki)
    plane.timings["certificates"] = time.monotonic() - began

    etcd_client, etcd_peer, apiserver_port = free_port(), free_port(), free_port()
    etcd_url = f"http://127.0.0.1:{etcd_client}"
    _spawn(
        plane,
        "etcd",
        [
            "etcd",
            "--name=mlrelease-test",
            f"--data-dir={workdir / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-cluster=mlrelease-test=http://127.0.0.1:{etcd_peer}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
    )
    _wait_until(plane, "etcd", lambda: _http_ok(f"{etcd_url}/health"), timeout)
    plane.timings["etcd"] = time.monotonic() - began

    plane.server = f"https://127.0.0.1:{apiserver_port}"
    _spawn(
        plane,
        "kube-apiserver",
        [
            "kube-apiserver",
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={apiserver_port}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            # A loopback address may not back the `kubernetes` Service's endpoints.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            "--v=0",
        ],
    )
    write_kubeconfig(plane.kubeconfig, plane.server, pki)
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    _wait_until(
        plane, "kube-apiserver", lambda: _http_ok(f"{plane.server}/readyz", context), timeout
    )
    plane.timings["kube-apiserver"] = time.monotonic() - began

    kubeconfig = str(plane.kubeconfig)
    _spawn(
        plane,
        "kube-controller-manager",
        [
            "kube-controller-manager",
            f"--kubeconfig={kubeconfig}",
            "--secure-port=0",
            "--leader-elect=false",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            "--use-service-account-credentials=false",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--profiling=false",
        ],
    )
    _spawn(
        plane,
        "kube-scheduler",
        [
            "kube-scheduler",
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
            "--leader-elect=false",
            "--profiling=false",
        ],
    )
    # kwok serves the kubelet API (container logs) on the node's address, so `kubectl logs`
    # and `helm test --logs` work: every container's log is one file saying nothing ran.
    kubelet_port = free_port()
    kwok_config = workdir / "kwok.yaml"
    kwok_config.write_text(KWOK_STAGES.read_text() + _kwok_logs(workdir))
    _spawn(
        plane,
        "kwok",
        [
            "kwok",
            f"--kubeconfig={kubeconfig}",
            f"--config={kwok_config}",
            "--manage-all-nodes=true",
            "--node-lease-duration-seconds=40",
            "--cidr=10.244.0.0/16",
            "--node-ip=127.0.0.1",
            f"--node-port={kubelet_port}",
            f"--server-address=127.0.0.1:{kubelet_port}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
        ],
    )
    plane.kubectl("apply", "-f", "-", input=json.dumps(_node()))
    _wait_until(plane, f"node {NODE_NAME}", lambda: _node_ready(plane), timeout)
    plane.timings["controllers, scheduler, kwok node"] = time.monotonic() - began

    if ISTIO_CRDS.is_file():
        plane.kubectl("apply", "--server-side", "-f", str(ISTIO_CRDS), timeout=timeout)
        plane.kubectl(
            "wait", "--for=condition=Established", "crd", "--all", f"--timeout={timeout:.0f}s",
            timeout=timeout + 10,
        )  # fmt: skip
        plane.timings["Istio CRDs"] = time.monotonic() - began
    else:
        raise ControlPlaneError(f"no Istio CRDs at {ISTIO_CRDS}")
    plane.timings["total"] = time.monotonic() - began


def _kwok_logs(workdir: Path) -> str:
    log = workdir / "logs" / "simulated-container.log"
    # The CRI log format a kubelet reads: timestamp, stream, full-line tag, text.
    log.write_text(
        "1970-01-01T00:00:00.000000000Z stdout F kwok: no container ran; this pod's phase"
        " was set by tests/cluster/kwok-stages.yaml\n"
    )
    return (
        "\n---\napiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterLogs\n"
        "metadata:\n  name: simulated-container-logs\n"
        f"spec:\n  logs:\n  - logsFile: {json.dumps(str(log))}\n    follow: false\n"
    )


def _node() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"}},
    }


def _node_ready(plane: ControlPlane) -> bool:
    node = plane.get("node", NODE_NAME)
    conditions = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
    taints = node.get("spec", {}).get("taints", [])
    return conditions.get("Ready") == "True" and not taints


@contextlib.contextmanager
def running(timeout: float = 180) -> Iterator[ControlPlane]:
    plane = start(timeout)
    try:
        yield plane
    finally:
        plane.stop()
