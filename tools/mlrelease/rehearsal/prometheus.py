"""A real Prometheus for rehearsals and tests, on 127.0.0.1 only, with its data in a folder.

The binary is Debian's `prometheus` package (`make prometheus-tools` installs it). Each run
writes its own configuration: the given targets scraped every second, so a canary step of a
few seconds already has enough samples for `rate()`. No system service is involved: the
process is started here and stopped here.
"""

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

from mlrelease.errors import MlreleaseError
from mlrelease.rehearsal.azurite import free_port
from mlrelease.rehearsal.logged import start_logged, stop, wait_until

INSTALL_HINT = (
    "run `make prometheus-tools` (it installs Debian's prometheus package) or "
    "`apt-get install --no-install-recommends prometheus`"
)


def find_prometheus() -> str | None:
    """The `prometheus` binary on PATH (Debian installs it in /usr/bin)."""
    return shutil.which("prometheus")


def scrape_config(
    jobs: dict[str, list[str]], interval: str = "1s", paths: dict[str, str] | None = None
) -> str:
    """prometheus.yml scraping each job's `host:port` targets every `interval`, at the
    job's path in `paths` (default /metrics).

    JSON is valid YAML, and `json.dumps` quotes every value, so nothing needs escaping.
    """
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": name,
                "metrics_path": (paths or {}).get(name, "/metrics"),
                "static_configs": [{"targets": targets}],
            }
            for name, targets in jobs.items()
        ],
    }
    return json.dumps(config, indent=2) + "\n"


class PrometheusServer:
    """One Prometheus process on 127.0.0.1 with its config and TSDB in `workdir`."""

    def __init__(
        self,
        binary: str,
        workdir: Path,
        jobs: dict[str, list[str]],
        paths: dict[str, str] | None = None,
    ) -> None:
        self.binary = binary
        self.workdir = Path(workdir)
        self.jobs = jobs
        self.paths = paths
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = self.workdir / "prometheus.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def start(self, timeout: float = 30) -> "PrometheusServer":
        """Start Prometheus and wait until `/-/ready` answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        config.write_text(scrape_config(self.jobs, paths=self.paths))
        command = [
            self.binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ]
        self.process = start_logged(command, self.log_path)
        if wait_until(self.process, "prometheus", self.log_path, self._ready, timeout, 0.2):
            return self
        self.stop()
        raise MlreleaseError(
            f"prometheus did not become ready on port {self.port} in {timeout:g} s"
        )

    def wait_for_targets(self, timeout: float = 30) -> None:
        """Block until every target has been scraped successfully at least twice.

        Two scrapes: the first records each counter at zero, the second proves the target
        keeps answering, so traffic sent from now on is counted whole by `rate()`. (`up` is
        1 for a successful scrape and 0 for a failed one, so its sum counts successes.)
        """
        expected = sum(len(targets) for targets in self.jobs.values())
        query = "count(sum_over_time(up[1m]) >= 2 and up == 1)"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    result = json.loads(response.read())["data"]["result"]
                if result and int(float(result[0]["value"][1])) >= expected:
                    return
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.5)
        raise MlreleaseError(
            f"prometheus did not scrape all {expected} targets within {timeout:g} s "
            f"(see {self.log_path} and {self.url}/targets)"
        )

    def stop(self) -> None:
        """Terminate Prometheus by its PID (SIGKILL after 10 s)."""
        stop(self.process)
