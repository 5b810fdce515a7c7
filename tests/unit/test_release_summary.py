"""`mlrelease summary`: the pipeline's release summary, read back from a deployment job's record.

Each record here is what the job's steps write: the plan from `mlrelease traffic plan` or
`promote`, the applied-P.txt of each step that ran, and analyze's JSON report per judged step.
"""

import json
from pathlib import Path

import pytest
from support.cli import run_mlrelease
from support.routing import doc

from mlrelease.summary.release import analysis_file, applied_file

OLD, NEW = "v20261201-1", "v20261202-1"
PNG = b"\x89PNG\r\n\x1a\n"


def report(passed: bool, traffic: dict[str, float] | None) -> dict:
    """The fields of `mlrelease analyze --json` the summary reads (the others pass through)."""
    return {"candidate": NEW, "baseline": OLD, "passed": passed, "rows": [], "traffic": traffic}


@pytest.fixture
def record(tmp_path) -> Path:
    """A job's routing folder holding the saved routing and a 10-50-100 plan."""
    folder = tmp_path / "routing"
    folder.mkdir()
    (folder / "previous-routing.yaml").write_text(json.dumps(doc((OLD, 100))))
    planned = run_mlrelease(
        "traffic", "plan", "--current", folder / "previous-routing.yaml", "--version", NEW,
        "--steps", "10,50,100", "--out-dir", folder / "plan",
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    return folder


def ran(record: Path, percent: str, analysis: dict | None = None) -> None:
    (record / applied_file(percent)).write_text(f"2026-12-02T10:{percent[:2]:0>2}:00Z\n")
    if analysis is not None:
        (record / analysis_file(percent)).write_text(json.dumps(analysis))


def summarise(record: Path, status: str = "Succeeded", *extra):
    out = record / "summary"
    result = run_mlrelease(
        "summary", "--record", record, "--version", NEW, "--job-status", status,
        "--out-dir", out, *extra,
    )  # fmt: skip
    return result, out


def table(markdown: str) -> dict[str, list[str]]:
    """{step: [applied, configured, observed, analysis]} from the summary's table."""
    rows = {}
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 5 and cells[0] not in ("step", "---"):
            rows[cells[0]] = cells[1:]
    return rows


def test_a_judged_canary_shows_every_step_with_its_observed_split_and_verdict(record):
    ran(record, "10", report(True, {OLD: 900, NEW: 100}))
    ran(record, "50", report(True, {OLD: 480, NEW: 520}))
    ran(record, "100", report(True, {OLD: 0, NEW: 1000}))
    result, out = summarise(record)
    assert result.returncode == 0, result.stderr
    markdown = (out / "release-summary.md").read_text()
    assert markdown.startswith(f"# Release of `{NEW}`: job succeeded")
    assert f"Routing before the release: `{OLD}` 100%." in markdown
    rows = table(markdown)
    assert list(rows) == [f"10% on {NEW}", f"50% on {NEW}", f"100% on {NEW}"]
    assert rows[f"10% on {NEW}"] == [
        "2026-12-02T10:10:00Z",
        f"`{OLD}` 90%, `{NEW}` 10%",
        f"`{OLD}` 90.0%, `{NEW}` 10.0% (1000 requests)",
        "healthy",
    ]
    assert rows[f"50% on {NEW}"][2] == f"`{OLD}` 48.0%, `{NEW}` 52.0% (1000 requests)"
    assert "](release-traffic.png)" in markdown
    assert (out / "release-traffic.png").read_bytes().startswith(PNG)


def test_a_rolled_back_canary_ends_with_the_restored_routing_and_unreached_steps(record):
    ran(record, "10", report(False, {OLD: 800, NEW: 200}))
    result, out = summarise(record, "Failed")
    assert result.returncode == 0, result.stderr
    markdown = (out / "release-summary.md").read_text()
    assert markdown.startswith(f"# Release of `{NEW}`: job failed")
    rows = table(markdown)
    assert rows[f"10% on {NEW}"][3] == "failing"
    assert rows[f"50% on {NEW}"] == ["not reached", f"`{OLD}` 50%, `{NEW}` 50%", "", ""]
    assert rows[f"100% on {NEW}"][0] == "not reached"
    assert f"its failure hook restores the routing saved before the release, `{OLD}` 100%" in (
        markdown.replace("\n", " ")
    )
    assert (out / "release-traffic.png").read_bytes().startswith(PNG)


def test_steps_run_without_analysis_are_configured_only_and_not_judged(record):
    for percent in ("10", "50", "100"):
        ran(record, percent)
    result, out = summarise(record)
    assert result.returncode == 0, result.stderr
    rows = table((out / "release-summary.md").read_text())
    assert [row[2:] for row in rows.values()] == [["not measured", "not judged"]] * 3
    assert (out / "release-traffic.png").read_bytes().startswith(PNG)


def test_the_picture_changes_with_what_was_observed(record, tmp_path):
    """The observed split is drawn, not just the plan: other counts, other pixels."""
    ran(record, "10", report(True, {OLD: 900, NEW: 100}))
    _, out = summarise(record)
    first = (out / "release-traffic.png").read_bytes()
    ran(record, "10", report(True, {OLD: 400, NEW: 600}))
    (out / "release-traffic.png").unlink()
    _, out = summarise(record)
    assert (out / "release-traffic.png").read_bytes() != first


def test_a_first_deployment_is_one_step_and_a_job_that_stopped_early_has_no_picture(tmp_path):
    folder = tmp_path / "routing"
    promoted = run_mlrelease(
        "traffic", "promote", "--version", NEW, "--out", folder / "plan" / "first.yaml"
    )
    assert promoted.returncode == 0, promoted.stderr
    result, out = summarise(folder)
    assert result.returncode == 0, result.stderr
    markdown = (out / "release-summary.md").read_text()
    assert "Routing before the release: none (first deployment)." in markdown
    assert table(markdown) == {
        "first routing": ["yes", f"`{NEW}` 100%", "not measured", "not judged"]
    }

    empty = tmp_path / "empty"
    empty.mkdir()
    result, out = summarise(empty, "Failed")
    assert result.returncode == 0, result.stderr
    assert "the job stopped before traffic could move" in (out / "release-summary.md").read_text()
    assert not (out / "release-traffic.png").exists()


@pytest.mark.parametrize(
    ("setup", "extra", "message"),
    [
        (lambda r: None, ("--job-status", "Done"), "is not an Agent.JobStatus"),
        (
            lambda r: (r / analysis_file("10")).write_text("{not json"),
            (),
            "analysis-10.json: not an analysis report",
        ),
        (
            lambda r: (r / analysis_file("10")).write_text('{"passed": "yes"}'),
            (),
            "analysis-10.json: not an analysis report",
        ),
        (
            lambda r: (r / "plan" / "step-01-10.yaml").write_text("versions: 3\n"),
            (),
            "step-01-10.yaml",
        ),
        (lambda r: (r / "summary").write_text("a file"), (), "--out-dir"),
    ],
    ids=["job-status", "report-not-json", "report-shape", "plan-not-routing", "out-is-a-file"],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(record, setup, extra, message):
    setup(record)
    result, out = summarise(record, "Succeeded", *extra)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.is_dir()


def test_a_record_folder_that_does_not_exist_is_bad_input(tmp_path):
    result, _ = summarise(tmp_path / "nowhere")
    assert result.returncode == 2 and "is not a folder" in result.stderr
