"""`mlrelease compare` against real scoring servers: the same model agrees, another does not."""

import json

import pytest
from support.cli import run_mlrelease

from mlrelease.analysis import compare


@pytest.mark.parametrize(
    ("candidate", "baseline", "overlap", "correlation"),
    [
        (["a", "b", "c"], ["a", "b", "c"], 1.0, 1.0),
        (["c", "b", "a"], ["a", "b", "c"], 1.0, -1.0),
        (["a", "b", "x"], ["a", "b", "c"], 2 / 3, 0.8),
        (["x", "y", "z"], ["a", "b", "c"], 0.0, -0.75),
    ],
)
def test_overlap_and_rank_correlation(candidate, baseline, overlap, correlation):
    assert compare.overlap_at_k(candidate, baseline, 3) == pytest.approx(overlap)
    assert compare.rank_correlation(candidate, baseline, 3) == pytest.approx(correlation)


def run_compare(candidate, baseline, *extra):
    return run_mlrelease(
        "compare",
        *("--candidate-url", candidate.url, "--baseline-url", baseline.url),
        *extra,
    )


def test_the_same_model_agrees_completely(start_server, model_uri, tmp_path):
    first, second = start_server(model_uri), start_server(model_uri)
    for server in (first, second):
        server.wait_for("/readyz", 200)
    report = tmp_path / "report.json"
    result = run_compare(
        first, second, "--users-from", model_uri, "--sample", "40",
        "--min-overlap", "0.9", "--json", report,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(report.read_text())
    assert data["overlapAtK"] == 1.0 and data["rankCorrelation"] == 1.0
    assert data["candidate"]["answers"] == 40 and data["candidate"]["fallbackRate"] == 0.0
    assert "agreement: ok (gate passed)" in result.stdout


def test_a_model_that_answers_differently_fails_the_gate(
    start_server, model_uri, other_model_uri, tmp_path
):
    candidate, baseline = start_server(other_model_uri), start_server(model_uri)
    for server in (candidate, baseline):
        server.wait_for("/readyz", 200)
    users = tmp_path / "users.txt"
    users.write_text("".join(f"u{n:04d}\n" for n in range(30)) + "someone-new\n")
    markdown = tmp_path / "report.md"
    result = run_compare(
        candidate, baseline, "--users-file", users, "--min-overlap", "0.9",
        "--markdown", markdown,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "agreement: FAIL: overlap@k" in result.stdout
    assert "fallback rate  3.2%" in result.stdout
    assert markdown.read_text().startswith("### Model agreement: failing")


def test_a_version_that_does_not_answer_fails(start_server, model_uri):
    from mlrelease.rehearsal.azurite import free_port

    baseline = start_server(model_uri)
    baseline.wait_for("/readyz", 200)
    result = run_mlrelease(
        "compare", "--candidate-url", f"http://127.0.0.1:{free_port()}",
        "--baseline-url", baseline.url, "--user", "u0001", "--user", "u0002",
    )  # fmt: skip
    assert result.returncode == 1
    assert "2 candidate requests failed" in result.stdout


def test_no_users_is_bad_input():
    result = run_mlrelease(
        "compare", "--candidate-url", "http://a", "--baseline-url", "http://b",
        "--user", "u1", "--sample", "0",
    )  # fmt: skip
    assert result.returncode == 2 and "--sample 0" in result.stderr
