"""Fixtures shared by several suites: one Azurite blob service for the whole test run."""

import pytest
from support.azurite import AZURITE_CONTAINER, require_azurite

from mlrelease.rehearsal.azurite import Azurite


@pytest.fixture(scope="session")
def azurite(tmp_path_factory):
    """A blob service on 127.0.0.1 with a `models` container, stopped after the run."""
    server = Azurite(require_azurite(), tmp_path_factory.mktemp("azurite"))
    try:
        server.start()
        server.create_container(AZURITE_CONTAINER)
        yield server
    finally:
        server.stop()
