"""Provenance from the Azure Pipelines environment: valid labels, full annotations, no 'None'."""

import pytest

from mlrelease.labels import is_label_value, label_value
from mlrelease.provenance import Provenance, from_dict, from_environment, short_branch

PIPELINE_ENV = {
    "BUILD_BUILDNUMBER": "20261127.3",
    "BUILD_BUILDID": "4711",
    "BUILD_SOURCEVERSION": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
    "BUILD_SOURCEBRANCH": "refs/heads/feature/faster-scoring",
    "SYSTEM_PULLREQUEST_PULLREQUESTID": "17",
    "BUILD_REQUESTEDFOR": "Jane Doe",
    "BUILD_REASON": "PullRequest",
    "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI": "https://dev.azure.com/contoso/",
    "SYSTEM_TEAMPROJECT": "Recommendations",
}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("main", "main"),
        ("feature/faster-scoring", "feature-faster-scoring"),
        ("Jane Doe", "Jane-Doe"),
        ("-leading.and.trailing_", "leading.and.trailing"),
        ("x" * 80, "x" * 63),
        ("a" * 62 + "-b", "a" * 62),
        ("///", ""),
        ("ümlaut", "mlaut"),
    ],
)
def test_label_value_sanitising(raw, expected):
    assert label_value(raw) == expected
    assert expected == "" or is_label_value(expected)


def test_full_pipeline_environment_gives_labels_and_annotations():
    provenance = from_environment(PIPELINE_ENV)
    labels = provenance.labels()
    assert labels["mlrelease.io/branch"] == "feature-faster-scoring"
    assert labels["mlrelease.io/pull-request"] == "17"
    assert labels["mlrelease.io/commit"] == PIPELINE_ENV["BUILD_SOURCEVERSION"]
    assert labels["mlrelease.io/version"] == provenance.version_id
    assert all(is_label_value(value) for value in labels.values())
    assert "mlrelease.io/requested-for" not in labels  # a person's name is not a selector

    annotations = provenance.annotations()
    assert annotations["mlrelease.io/build-number"] == "20261127.3"
    assert annotations["mlrelease.io/branch"] == "refs/heads/feature/faster-scoring"
    assert annotations["mlrelease.io/requested-for"] == "Jane Doe"
    assert (
        annotations["mlrelease.io/build-url"]
        == "https://dev.azure.com/contoso/Recommendations/_build/results?buildId=4711"
    )


def test_absent_and_empty_variables_are_simply_absent():
    provenance = from_environment(
        {"BUILD_BUILDNUMBER": "7", "SYSTEM_PULLREQUEST_PULLREQUESTID": ""}
    )
    everything = {**provenance.labels(), **provenance.annotations(), **provenance.to_dict()}
    assert not any("pull-request" in key or "pullRequest" in key for key in everything)
    assert "None" not in everything.values()
    assert "mlrelease.io/build-url" not in provenance.annotations()


def test_overrides_win_over_the_environment():
    provenance = from_environment(PIPELINE_ENV, {"commit": "abc123", "branch": None})
    assert provenance.commit == "abc123"
    assert provenance.branch == PIPELINE_ENV["BUILD_SOURCEBRANCH"]


def test_dict_round_trip():
    provenance = from_environment(PIPELINE_ENV)
    assert from_dict(provenance.to_dict()) == provenance


@pytest.mark.parametrize(
    ("ref", "short"),
    [("refs/heads/main", "main"), ("refs/pull/7/merge", "pull/7/merge"), ("main", "main")],
)
def test_short_branch(ref, short):
    assert short_branch(ref) == short


def test_empty_provenance_has_no_labels():
    assert Provenance().labels() == {}
    assert Provenance().annotations() == {}
