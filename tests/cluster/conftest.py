"""The live control plane for the whole test run, and the pipeline's jobs compiled against it.

The control plane starts once per run (the first test here that needs it) and is stopped by
PID at the end of the run, pass or fail. Where it cannot start the tests skip and say why; with
CI or TF_BUILD set they fail instead, so CI never passes without running them.
"""

from __future__ import annotations

import time

import pytest
from support import cluster as cluster_support
from support.ci import unavailable
from support.releases import Pipelines, create_storage_secret, upload_export


@pytest.fixture(scope="session")
def cluster(request):
    started = time.monotonic()
    try:
        plane = cluster_support.start()
    except cluster_support.ControlPlaneError as error:
        unavailable(f"the test control plane did not start: {error}")
    request.config.stash[STARTUP] = (time.monotonic() - started, dict(plane.timings))
    try:
        yield plane
    finally:
        plane.stop()


class Storage:
    """The model store and ETL export (Azurite) and the Secret that names its credential."""

    def __init__(self, cluster, connection_string: str) -> None:
        self.cluster = cluster
        self.connection_string = connection_string
        self.account_key = dict(
            part.split("=", 1) for part in connection_string.split(";") if "=" in part
        )["AccountKey"]

    def secret(self, namespace: str) -> None:
        create_storage_secret(self.cluster, namespace, self.connection_string)

    def assert_not_in(self, *texts: str) -> None:
        for text in texts:
            assert self.account_key not in text, "a storage credential leaked"


@pytest.fixture(scope="session")
def storage(cluster, azurite, tmp_path_factory) -> Storage:
    upload_export(azurite.connection_string, tmp_path_factory.mktemp("export"))
    return Storage(cluster, azurite.connection_string)


@pytest.fixture(scope="session")
def pipelines(cluster, storage, tmp_path_factory) -> Pipelines:
    return Pipelines(cluster, tmp_path_factory.mktemp("pipelines"), storage.connection_string)


STARTUP = pytest.StashKey[tuple[float, dict]]()


def pytest_terminal_summary(terminalreporter, config):
    if STARTUP in config.stash:
        seconds, timings = config.stash[STARTUP]
        steps = ", ".join(f"{name} at {at:.1f}s" for name, at in timings.items())
        terminalreporter.write_line(f"test control plane: started in {seconds:.1f}s ({steps})")
