"""The real tools `make tools` builds into .tools/ (tools/install_tools.sh): paths and runners.

Each runner gives the tool a private home (Helm's cache, config and data folders) so neither a
developer's Helm set-up nor a previous test leaks in; Helm finds the helm-unittest plugin through
HELM_PLUGINS. A missing tool skips on a developer's machine and fails in CI.
"""

import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from support.ci import unavailable

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".tools"
HELM = TOOLS / "bin" / "helm"
ISTIOCTL = TOOLS / "bin" / "istioctl"
HELM_PLUGINS = TOOLS / "helm-plugins"
VARIABLES = REPO / "azure-pipelines" / "variables.yml"
HELM_UNITTEST_GO_MOD = REPO / "tools" / "go" / "helm-unittest" / "go.mod"
INSTALL_SCRIPT = REPO / "tools" / "install_tools.sh"


def require(path: Path) -> Path:
    """The tool at `path`, or a skip (a failure in CI) that says how to build it."""
    if not os.access(path, os.X_OK):
        unavailable(f"{path.relative_to(REPO)} is missing; `make tools` builds it")
    return path


def helm_version() -> str:
    """The pipelines' helmVersion (azure-pipelines/variables.yml), the one owner of it."""
    (version,) = re.findall(r"^  helmVersion: *\"?([0-9.]+)\"?$", VARIABLES.read_text(), re.M)
    return version


def go_mod_version(go_mod: Path, module: str) -> str:
    """The version of `module` that a go.mod requires."""
    (version,) = re.findall(rf"^\s+{re.escape(module)} (v\S+)", go_mod.read_text(), re.M)
    return version


def istio_version() -> str:
    """The istio.io/istio pseudo-version tools/install_tools.sh builds istioctl from."""
    (version,) = re.findall(r"^ISTIO_VERSION=(\S+)$", INSTALL_SCRIPT.read_text(), re.M)
    return version


def run(
    tool: Path, args: Sequence[object], home: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run a tool with its output captured, Helm's folders under `home`."""
    env = {
        **os.environ,
        "HELM_PLUGINS": str(HELM_PLUGINS),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "HOME": str(home),
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [str(require(tool)), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    """A failed run's command line and output, for an assertion message."""
    return f"$ {' '.join(result.args)}\nexit {result.returncode}\n{result.stdout}{result.stderr}"
