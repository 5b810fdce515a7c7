"""The pipeline's release summary, read from the record the deployment job leaves in one folder.

The job's steps write the record as they go, and the summary only reads it back:

- `plan/step-NN-P.yaml` (`plan/first.yaml` on a first deployment): the routing values each
  step applies, from `mlrelease traffic plan` or `promote`;
- `applied-P.txt`: the UTC time step P's split took effect, written as its pause begins;
- `analysis-P.json`: step P's `mlrelease analyze --json`: the verdict and the requests each
  version answered within the analysis interval (the observed split);
- `previous-routing.yaml`: the routing in force before, which the job's failure hook restores.

A planned step that was never applied (the job stopped earlier) is listed as not reached and
left out of the picture; a failed job's picture ends with the routing the hook restores.
"""

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from mlrelease.errors import InputError
from mlrelease.traffic import document as routing_document

# What the summary writes, the pipeline publishes and the rehearsal writes too.
SUMMARY_FILE = "release-summary.md"
PICTURE_FILE = "release-traffic.png"
PLAN_FOLDER = "plan"
FIRST_ROUTING = "first.yaml"
PREVIOUS_ROUTING = "previous-routing.yaml"
STEP_FILE = re.compile(r"^step-(\d+)-(.+)\.yaml$")
# Azure Pipelines' Agent.JobStatus values; the summary reads them case-insensitively.
JOB_STATUSES = ("succeeded", "succeededwithissues", "failed", "canceled")
# The statuses after which the job's failure hook restores the routing saved before.
FAILED_STATUSES = ("failed", "canceled")


def applied_file(percent: str) -> str:
    """The name of step `percent`'s record of when its split took effect."""
    return f"applied-{percent}.txt"


def analysis_file(percent: str) -> str:
    """The name of step `percent`'s `mlrelease analyze --json` report."""
    return f"analysis-{percent}.json"


@dataclasses.dataclass
class Step:
    """One routing the job applied, or planned and never reached."""

    title: str
    configured: dict[str, int]
    applied: str  # when it took effect (UTC), "yes" where only the job status says so, or ""
    analysis: dict[str, Any] | None = None

    @property
    def verdict(self) -> str:
        """ "healthy", "failing", or "" where no analysis judged the step."""
        if self.analysis is None:
            return ""
        return "healthy" if self.analysis.get("passed") else "failing"

    @property
    def observed(self) -> dict[str, float]:
        """Requests per version within the analysis interval; empty where not measured."""
        traffic = (self.analysis or {}).get("traffic") or {}
        return {version: float(count) for version, count in traffic.items()}

    def observation(self) -> dict[str, Any]:
        """The step as the picture draws it."""
        observed = self.observed
        return {
            "title": self.title,
            "configured": self.configured,
            "observed": observed,
            "requests": sum(observed.values()),
            "verdict": self.verdict,
        }


@dataclasses.dataclass
class Release:
    """Everything the record says about one deployment job."""

    version: str
    job_status: str
    previous: dict[str, int] | None
    steps: list[Step]

    @property
    def failed(self) -> bool:
        return self.job_status in FAILED_STATUSES

    def applied_steps(self) -> list[Step]:
        """The steps that ran, then (for a failed job) the routing the failure hook restores."""
        ran = [step for step in self.steps if step.applied]
        if self.failed and ran and self.previous is not None:
            ran.append(Step("routing restored", self.previous, "by the failure hook"))
        return ran


def read_record(folder: Path, version: str, job_status: str) -> Release:
    """The release as the record in `folder` tells it; InputError names any unreadable file."""
    if not folder.is_dir():
        raise InputError(f"--record {folder} is not a folder; give the job's routing folder")
    status = job_status.strip().lower()
    if status not in JOB_STATUSES:
        raise InputError(
            f"--job-status {job_status!r} is not an Agent.JobStatus; use one of "
            "Succeeded, SucceededWithIssues, Failed, Canceled"
        )
    previous_path = folder / PREVIOUS_ROUTING
    previous = _weights(previous_path) if previous_path.is_file() else None
    plan = folder / PLAN_FOLDER
    steps: list[Step] = []
    if (plan / FIRST_ROUTING).is_file():
        # Only the job's status tells whether the first routing was applied.
        applied = "" if status in FAILED_STATUSES else "yes"
        steps.append(Step("first routing", _weights(plan / FIRST_ROUTING), applied))
    numbered = sorted(
        (int(match[1]), match[2], path)
        for path in (plan.iterdir() if plan.is_dir() else ())
        if (match := STEP_FILE.match(path.name))
    )
    for _, percent, path in numbered:
        report_path = folder / analysis_file(percent)
        steps.append(
            Step(
                f"{percent}% on {version}",
                _weights(path),
                _applied(folder / applied_file(percent)),
                _report(report_path) if report_path.is_file() else None,
            )
        )
    return Release(version, status, previous, steps)


def markdown(release: Release, picture: str | None) -> str:
    """The summary: each planned step, what it applied and observed, and its verdict."""
    lines = [
        f"# Release of `{release.version}`: job {release.job_status}",
        "",
        "Routing before the release: "
        + (_split(release.previous) if release.previous is not None else "none (first deployment)")
        + ".",
        "",
    ]
    if not release.steps:
        lines += ["No routing was planned: the job stopped before traffic could move.", ""]
        return "\n".join(lines)
    lines += [
        "| step | applied (UTC) | configured | observed within the analysis interval | analysis |",
        "|---|---|---|---|---|",
    ]
    for step in release.steps:
        observed = step.observed
        total = sum(observed.values())
        seen = (
            ", ".join(f"`{name}` {count / total:.1%}" for name, count in sorted(observed.items()))
            + f" ({total:.0f} requests)"
            if total
            else "not measured"
        )
        judged = step.verdict or "not judged"
        lines.append(
            f"| {step.title} | {step.applied or 'not reached'} | {_split(step.configured)} "
            f"| {seen if step.applied else ''} | {judged if step.applied else ''} |"
        )
    if release.failed and release.previous is not None:
        lines += [
            "",
            "The job failed: its failure hook restores the routing saved before the release, "
            f"{_split(release.previous)}.",
        ]
    if picture:
        lines += [
            "",
            f"![Configured and observed share of requests by version, step by step]({picture})",
        ]
    return "\n".join(lines) + "\n"


def _split(weights: dict[str, int]) -> str:
    return ", ".join(f"`{name}` {weight}%" for name, weight in weights.items()) or "no versions"


def _weights(path: Path) -> dict[str, int]:
    _, document = routing_document.load(path)
    return {entry["name"]: entry["weight"] for entry in document["versions"]}


def _applied(path: Path) -> str:
    """When the step took effect, "yes" if its record holds no time, "" if it never ran."""
    if not path.is_file():
        return ""
    try:
        return path.read_text().strip() or "yes"
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: unreadable ({error})") from None


def _report(path: Path) -> dict[str, Any]:
    try:
        report = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise InputError(f"{path}: not an analysis report ({error})") from None
    if not _is_report(report):
        raise InputError(f"{path}: not an analysis report (`mlrelease analyze --json` writes one)")
    return report


def _is_report(report: Any) -> bool:
    """A verdict (`passed`) and, where measured, requests per version (`traffic`)."""
    if not isinstance(report, dict) or not isinstance(report.get("passed"), bool):
        return False
    traffic = report.get("traffic")
    if traffic is None:
        return True
    return isinstance(traffic, dict) and all(isinstance(v, int | float) for v in traffic.values())
