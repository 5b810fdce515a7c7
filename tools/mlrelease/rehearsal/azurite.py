"""A local Azure Blob Storage (Azurite) for rehearsals and tests, on 127.0.0.1 only.

Azurite comes from npm (`azurite`); `make setup` installs it under `.venv/node`. The server
keeps its data in a folder of its own so a test can kill it (a storage outage) and start
it again on the same data.
"""

import os
import shutil
import socket
import subprocess
from pathlib import Path

from azure.storage.blob import BlobServiceClient

from mlrelease.errors import MlreleaseError
from mlrelease.rehearsal.logged import start_logged, stop, wait_until

# Azurite's documented, public development account: not a secret.
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
INSTALL_HINT = "run `make setup` (it installs azurite under .venv/node) or `npm install -g azurite`"


def find_azurite(repo: Path | None = None) -> str | None:
    """The `azurite-blob` script: the project's .venv/node copy first, then PATH."""
    candidates = (
        [Path(repo) / ".venv" / "node" / "node_modules" / ".bin" / "azurite-blob"] if repo else []
    )
    prefix = os.environ.get("VIRTUAL_ENV")
    if prefix:
        candidates.append(Path(prefix) / "node" / "node_modules" / ".bin" / "azurite-blob")
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    return shutil.which("azurite-blob")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Azurite:
    """One azurite-blob process on 127.0.0.1 with its data in `workdir`."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = Path(workdir)
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = self.workdir / "azurite.log"

    @property
    def connection_string(self) -> str:
        """Connection string for the development account on this server."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.port}/{DEV_ACCOUNT};"
        )

    def start(self, timeout: float = 60) -> "Azurite":
        """Start the server and wait until it accepts connections."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [
            self.binary,
            *("--blobHost", "127.0.0.1", "--blobPort", str(self.port)),
            *("--location", str(self.workdir)),
            *("--skipApiVersionCheck", "--disableTelemetry", "--silent"),
        ]
        self.process = start_logged(command, self.log_path)
        if wait_until(self.process, "azurite-blob", self.log_path, self._listening, timeout, 0.1):
            return self
        self.stop()
        raise MlreleaseError(f"azurite-blob did not listen on port {self.port} in {timeout:g} s")

    def _listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
        except OSError:
            return False
        return True

    def service(self) -> BlobServiceClient:
        """A client for the whole development account."""
        return BlobServiceClient.from_connection_string(self.connection_string)

    def create_container(self, name: str) -> None:
        """Create a blob container (the store never creates containers itself)."""
        self.service().create_container(name)

    def kill(self) -> None:
        """SIGKILL, like a storage outage: no chance to finish anything."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """Terminate the server (SIGKILL after 10 s)."""
        stop(self.process)
