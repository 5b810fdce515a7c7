"""Fixtures for the pipeline checks: the published Azure Pipelines schema.

The schema is public reference data kept in the repository (`tests/schemas/`, source and version
in its README), so the schema tests always run.
"""

from pathlib import Path

import pytest
from support import pipelines as pipeline_support


@pytest.fixture(scope="session")
def schema_path() -> Path:
    return pipeline_support.SCHEMA_PATH
