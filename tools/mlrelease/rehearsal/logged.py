"""Servers the rehearsal and the tests start (Azurite, Prometheus): output to a log file, a
wait until they answer that fails at once, with the log's tail, if the process dies, and a
stop by PID."""

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from mlrelease.errors import MlreleaseError


def start_logged(command: list[str], log_path: Path) -> subprocess.Popen:
    """Start `command` with stdout and stderr appended to `log_path` and no stdin."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


def wait_until(
    process: subprocess.Popen,
    name: str,
    log_path: Path,
    ready: Callable[[], bool],
    timeout: float,
    interval: float,
) -> bool:
    """Poll `ready()` until it is true (True) or `timeout` passes (False); the caller stops
    the process on False. Raises MlreleaseError with the log's tail if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise MlreleaseError(
                f"{name} exited with {process.returncode}: "
                + log_path.read_text(errors="replace")[-2000:]
            )
        if ready():
            return True
        time.sleep(interval)
    return False


def stop(process: subprocess.Popen | None) -> None:
    """Terminate a server this module started, by its PID; SIGKILL after 10 s."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)
