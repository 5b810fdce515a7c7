"""Fixtures shared by several suites: one Azurite blob service for the whole test run; the
Hypothesis profiles every property test runs under."""

import os

import pytest
from hypothesis import settings
from support.azurite import AZURITE_CONTAINER, require_azurite

from mlrelease.rehearsal.azurite import Azurite

# "ci" (the default): the same examples on every run (derandomized), no example database
# written into the checkout, no per-example deadline on a shared 2-core machine. Each
# test sets its example count. "explore": fresh random examples, for a developer's search.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", database=None, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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
