"""Run and stop the processes of a rehearsal; every one started is stopped, also on failure."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import requests

from mlrelease.errors import MlreleaseError
from mlrelease.rehearsal.manifests import ProcessSpec


def local_argv(argv: list[str]) -> list[str]:
    """The image's `python` and `mlrelease` are this environment's interpreter and CLI."""
    if argv[0] in ("python", "python3"):
        return [sys.executable, *argv[1:]]
    if argv[0] == "mlrelease":
        return [sys.executable, "-m", "mlrelease", *argv[1:]]
    return argv


class ProcessGroup(contextlib.AbstractContextManager):
    """Starts processes with their logs in `log_dir` and stops them all on exit."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: list[subprocess.Popen] = []
        log_dir.mkdir(parents=True, exist_ok=True)

    def _environment(self, spec: ProcessSpec, extra: dict[str, str] | None) -> dict[str, str]:
        # The container would see only its own env; keep PATH and the like so the
        # interpreter runs, but drop anything that could leak in from this shell's
        # pipeline variables.
        inherited = {
            key: value
            for key, value in os.environ.items()
            if key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "VIRTUAL_ENV")
        }
        return {**inherited, **spec.env, **(extra or {})}

    def run(
        self, spec: ProcessSpec, extra: dict[str, str] | None = None, timeout: float = 900
    ) -> str:
        """Run to completion; raise MlreleaseError with the log's tail if it fails."""
        log_path = self.log_dir / f"{spec.name}.log"
        with log_path.open("w") as log:
            completed = subprocess.run(
                local_argv(spec.argv),
                env=self._environment(spec, extra),
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        output = log_path.read_text(errors="replace")
        if completed.returncode != 0:
            tail = "\n".join(output.splitlines()[-15:])
            raise MlreleaseError(
                f"{spec.name} exited with {completed.returncode} (log {log_path}):\n{tail}"
            )
        return output

    def start(self, spec: ProcessSpec, extra: dict[str, str] | None = None) -> subprocess.Popen:
        """Start a long-running process; it is stopped when the group exits."""
        log = (self.log_dir / f"{spec.name}.log").open("w")
        process = subprocess.Popen(
            local_argv(spec.argv),
            env=self._environment(spec, extra),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.running.append(process)
        return process

    def stop(self, process: subprocess.Popen, timeout: float = 15) -> None:
        """Stop one process group we started (SIGTERM, then SIGKILL), e.g. an uninstall."""
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process in self.running:
            self.running.remove(process)

    def stop_all(self) -> None:
        """SIGTERM each process group we started, then SIGKILL what is left."""
        for process in reversed(self.running):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.running.clear()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop_all()


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    """Poll `url` until it answers 200; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise MlreleaseError(f"the server for {url} exited with {process.returncode}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise MlreleaseError(f"{url} did not become ready within {timeout:g} s")
