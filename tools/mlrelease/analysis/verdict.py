"""Judge a canary step from the declared checks, and render the verdict as a table or Markdown.

A check passes when every range declared for it holds: `thresholdRange` on the candidate's
value, `baselineRatio` on candidate / baseline, `baselineDifference` on candidate - baseline.
Missing data never passes (fail safe): a check without a value fails, and a candidate with
fewer than `minRequests` requests is waited for up to one interval and then fails. Relative
ranges need a baseline with traffic; when the baseline has too few requests (it is at
weight 0 at the last step), they are skipped and the row says so, while the absolute ranges
still judge.
"""

import dataclasses
import time
from collections.abc import Callable
from typing import Any, Protocol

from mlrelease.analysis import checks
from mlrelease.analysis.checks import Check, Scope, format_value
from mlrelease.analysis.document import seconds

PASS, FAIL, SKIPPED = "pass", "FAIL", "skipped"


class Source(Protocol):
    """Where values come from: `Prometheus`, or a stand-in in tests."""

    def value(self, promql: str) -> float | None: ...


@dataclasses.dataclass
class Row:
    """One judged check."""

    name: str
    query: str
    value: float | None
    baseline: float | None
    ranges: str
    result: str
    unit: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Verdict:
    """Every row of every iteration; `passed` says whether the step may go on."""

    candidate: str
    baseline: str
    interval: str
    iterations: list[list[Row]]
    failed_iterations: int
    tolerated: int
    # Requests per version behind the Service within the interval (the observed split), where
    # Prometheus answered it; the release summary draws it beside the configured weights.
    traffic: dict[str, float] | None = None

    @property
    def passed(self) -> bool:
        return self.failed_iterations <= self.tolerated

    @property
    def rows(self) -> list[Row]:
        """The last iteration's rows (the one that decided)."""
        return self.iterations[-1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "baseline": self.baseline,
            "interval": self.interval,
            "passed": self.passed,
            "failedIterations": self.failed_iterations,
            "failedChecksTolerated": self.tolerated,
            "rows": [row.to_dict() for row in self.rows],
            "traffic": self.traffic,
        }


def plan(document: dict[str, Any], candidate: str, baseline: str) -> list[tuple[Check, str, str]]:
    """(check, candidate query, baseline query) for the request count and each enabled metric."""
    scopes = [
        Scope(document["service"], version, document["interval"], document["namespace"])
        for version in (candidate, baseline)
    ]
    enabled = [c for c in checks.METRICS if document["metrics"][c.key]["enabled"]]
    return [(c, c.query(scopes[0]), c.query(scopes[1])) for c in [checks.REQUEST_COUNT, *enabled]]


def judge(
    document: dict[str, Any],
    candidate: str,
    baseline: str,
    source: Source,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    log: Callable[[str], None] = lambda line: None,
) -> Verdict:
    """Run the document's iterations; stop early once more of them failed than tolerated."""
    interval = seconds(document["interval"])
    iterations: list[list[Row]] = []
    failed = 0
    for number in range(document["iterations"]):
        if number:
            sleep(interval)
        rows = _iteration(document, candidate, baseline, source, interval, sleep, clock, log)
        iterations.append(rows)
        if any(row.result == FAIL for row in rows):
            failed += 1
            if failed > document["failedChecksTolerated"]:
                break
    return Verdict(
        candidate,
        baseline,
        document["interval"],
        iterations,
        failed,
        document["failedChecksTolerated"],
    )


def _iteration(
    document: dict[str, Any],
    candidate: str,
    baseline: str,
    source: Source,
    interval: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    log: Callable[[str], None],
) -> list[Row]:
    (count_check, count_query, baseline_count_query), *metrics = plan(document, candidate, baseline)
    minimum = document["minRequests"]
    deadline = clock() + interval
    count = source.value(count_query) or 0.0
    while count < minimum and clock() < deadline:
        log(f"{candidate}: {count:.0f} of {minimum} requests; waiting for traffic")
        sleep(min(5.0, max(0.5, interval / 20), max(0.0, deadline - clock())))
        count = source.value(count_query) or 0.0
    baseline_count = source.value(baseline_count_query) or 0.0
    enough = count >= minimum
    rows = [
        Row(
            count_check.name,
            count_query,
            count,
            baseline_count,
            f">= {minimum}",
            PASS if enough else FAIL,
            count_check.unit,
            "" if enough else f"too little traffic within {document['interval']}: fails safe",
        )
    ]
    if not enough:
        return rows
    baseline_has_traffic = baseline_count >= minimum
    for check, query, baseline_query in metrics:
        spec = document["metrics"][check.key]
        value = source.value(query)
        # Shown beside the candidate's even where only an absolute range judges.
        base = source.value(baseline_query) if baseline_has_traffic else None
        rows.append(_row(check, spec, query, value, base, baseline_has_traffic, baseline_count))
    return rows


def _row(
    check: Check,
    spec: dict[str, Any],
    query: str,
    value: float | None,
    base: float | None,
    baseline_has_traffic: bool,
    baseline_count: float,
) -> Row:
    ranges = describe_ranges(spec, check.unit)
    row = Row(check.name, query, value, base, ranges, PASS, check.unit)
    if value is None:
        row.result, row.note = FAIL, "no data for the candidate: fails safe"
        return row
    problems = []
    if "thresholdRange" in spec and not _within(value, spec["thresholdRange"]):
        problems.append(f"{check.format(value)} outside {_bounds(spec['thresholdRange'], check)}")
    relative = {k: spec[k] for k in ("baselineRatio", "baselineDifference") if k in spec}
    if relative and not baseline_has_traffic:
        row.note = f"relative range skipped: the baseline had {baseline_count:.0f} requests"
        if "thresholdRange" not in spec:
            row.result = SKIPPED
    elif relative and base is None:
        problems.append("no data for the baseline")
    elif relative:
        assert base is not None
        if "baselineRatio" in relative:
            ratio = _ratio(value, base)
            if not _within(ratio, relative["baselineRatio"]):
                problems.append(f"{ratio:.2f}x baseline")
        if "baselineDifference" in relative:
            difference = value - base
            if not _within(difference, relative["baselineDifference"]):
                problems.append(f"{format_value(difference, check.unit)} vs baseline")
    if problems:
        row.result, row.note = FAIL, "; ".join(problems)
    return row


def describe_ranges(spec: dict[str, Any], unit: str) -> str:
    """`>= 99.00%; <= 1.5x baseline` for a metric's declared ranges."""
    check = Check("", "", unit, lambda scope: "")
    parts = []
    if "thresholdRange" in spec:
        parts.append(_bounds(spec["thresholdRange"], check))
    if "baselineRatio" in spec:
        parts.append(_bounds(spec["baselineRatio"], None, suffix="x baseline"))
    if "baselineDifference" in spec:
        parts.append(_bounds(spec["baselineDifference"], check, suffix=" vs baseline", sign=True))
    return "; ".join(parts)


def _bounds(
    bounds: dict[str, float], check: Check | None, suffix: str = "", sign: bool = False
) -> str:
    def show(number: float) -> str:
        text = check.format(number) if check else f"{number:g}"
        return ("+" if sign and number >= 0 else "") + text

    if "min" in bounds and "max" in bounds:
        return f"{show(bounds['min'])}..{show(bounds['max'])}{suffix}"
    if "min" in bounds:
        return f">= {show(bounds['min'])}{suffix}"
    return f"<= {show(bounds['max'])}{suffix}"


def _within(value: float, bounds: dict[str, float]) -> bool:
    return bounds.get("min", float("-inf")) <= value <= bounds.get("max", float("inf"))


def _ratio(value: float, base: float) -> float:
    if base == 0:
        return 1.0 if value == 0 else float("inf")
    return value / base


# -- rendering ---------------------------------------------------------------------------


def table(verdict: Verdict) -> str:
    """A plain-text table: check, candidate and baseline values, range, result, query."""
    header = ("check", verdict.candidate, f"baseline {verdict.baseline}", "range", "result")
    lines = [header]
    for row in verdict.rows:
        result = row.result + (f" ({row.note})" if row.note else "")
        lines.append(
            (
                row.name,
                format_value(row.value, row.unit),
                "" if row.baseline is None else format_value(row.baseline, row.unit),
                row.ranges,
                result,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    text = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
        + "  "
        + line[4]
        for line in lines
    ]
    text.append("")
    text += [f"{row.name}: {row.query}" for row in verdict.rows]
    text.append("")
    text.append(summary_line(verdict))
    return "\n".join(text) + "\n"


def summary_line(verdict: Verdict) -> str:
    """One line: the decision and why."""
    failed = [row.name for row in verdict.rows if row.result == FAIL]
    if verdict.passed:
        return (
            f"verdict: healthy: {verdict.candidate} may go on "
            f"({len(verdict.iterations)} iteration(s) over {verdict.interval})"
        )
    return f"verdict: failing: roll back {verdict.candidate} (failed: {', '.join(failed)})"


def markdown(verdict: Verdict, title: str = "") -> str:
    """The verdict as Markdown for the pipeline's run summary."""
    status = "healthy" if verdict.passed else "failing: rolled back"
    lines = [
        f"### {title or f'Canary analysis of `{verdict.candidate}`'}: {status}",
        "",
        f"Baseline `{verdict.baseline}`, interval {verdict.interval}.",
        "",
        f"| check | `{verdict.candidate}` | baseline | range | result | query |",
        "|---|---|---|---|---|---|",
    ]
    for row in verdict.rows:
        baseline = "" if row.baseline is None else format_value(row.baseline, row.unit)
        result = row.result + (f": {row.note}" if row.note else "")
        query = row.query.replace("|", "\\|")
        lines.append(
            f"| {row.name} | {format_value(row.value, row.unit)} | {baseline} | {row.ranges} "
            f"| {result} | `{query}` |"
        )
    if verdict.traffic:
        total = sum(verdict.traffic.values()) or 1.0
        split = ", ".join(
            f"`{version}` {count:.0f} ({count / total:.1%})"
            for version, count in sorted(verdict.traffic.items())
        )
        lines += ["", f"Requests by version within {verdict.interval}: {split}."]
    return "\n".join(lines) + "\n"
