"""A missing prerequisite skips a test on a developer's machine and fails it in any CI."""

import pytest
from support.ci import in_ci, unavailable


@pytest.mark.parametrize(
    ("environment", "expected"),
    [({}, False), ({"CI": "true"}, True), ({"TF_BUILD": "True"}, True), ({"CI": "false"}, False)],
)
def test_ci_is_recognised_by_either_variable(monkeypatch, environment, expected):
    for name in ("CI", "TF_BUILD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert in_ci() is expected


def test_unavailable_skips_locally_and_fails_under_azure_pipelines(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("TF_BUILD", raising=False)
    with pytest.raises(pytest.skip.Exception):
        unavailable("no tool")
    monkeypatch.setenv("TF_BUILD", "True")
    with pytest.raises(pytest.fail.Exception, match="CI must run"):
        unavailable("no tool")
