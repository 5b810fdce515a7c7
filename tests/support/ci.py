"""Whether the tests run in CI, where a missing prerequisite is a failure, never a skip."""

import os

import pytest

# The project's CI sets CI; Azure Pipelines sets TF_BUILD (and not CI).
CI_VARIABLES = ("CI", "TF_BUILD")


def in_ci() -> bool:
    """True under any CI system the project runs on."""
    return any(os.environ.get(name, "").lower() not in ("", "0", "false") for name in CI_VARIABLES)


def unavailable(reason: str) -> None:
    """Skip a test whose prerequisite is missing on a developer's machine; fail it in CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI must run this test)")
    pytest.skip(reason)
