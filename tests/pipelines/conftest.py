"""Fixtures for the pipeline checks: the published Azure Pipelines schema, or why it is absent.

The schema is public reference data kept beside the repository (`../shared/schemas`), never in
it. Where it is absent the schema tests skip and say so; with `CI` set they fail instead, so a
CI run can never pass without validating the pipelines.
"""

import os
from pathlib import Path

import pytest
from support import pipelines as pipeline_support


@pytest.fixture(scope="session")
def schema_path() -> Path:
    path = pipeline_support.SCHEMA_PATH
    if not path.is_file():
        message = (
            f"the Azure Pipelines schema is not at {path}: put microsoft/azure-pipelines-"
            "vscode's service-schema.json there to validate the pipeline YAML"
        )
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path
