"""Model agreement: ask the candidate and the baseline the same questions and measure the gap.

The same sample of real user ids goes to both versions' own Services (never the shared
one, so the split does not decide who answers). For each user the two top-k lists are
compared:

- overlap@k: |candidate ∩ baseline| / k, 1 for the same items in any order;
- rank correlation: Spearman's rho of the two rankings over the union of both lists, an
  item missing from one list ranked k+1 there; 1 for the same order, about -1 for lists
  with nothing in common.

Per version it also reports the share of popularity fallbacks, the latency (p50, p99) and
the number of failed requests. Offline metrics say whether a model is good on held-out
data; this says whether it is the model the users are getting now, which is what a
release that went wrong (a bad learning rate, the wrong data) changes first.
"""

import dataclasses
import json
import math
import statistics
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from mlrelease.errors import InputError, MlreleaseError


@dataclasses.dataclass
class Side:
    """How one version answered the sample."""

    url: str
    version: str = ""
    latencies_ms: list[float] = dataclasses.field(default_factory=list)
    fallbacks: int = 0
    errors: int = 0
    answers: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "version": self.version,
            "answers": self.answers,
            "errors": self.errors,
            "fallbackRate": self.fallbacks / self.answers if self.answers else None,
            "latencyP50Ms": _quantile(self.latencies_ms, 0.5),
            "latencyP99Ms": _quantile(self.latencies_ms, 0.99),
        }


@dataclasses.dataclass
class Comparison:
    """The measured agreement and whether it meets the thresholds given."""

    k: int
    users: int
    overlap: float | None
    rank_correlation: float | None
    candidate: Side
    baseline: Side
    thresholds: dict[str, float]
    failures: list[str]

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "users": self.users,
            "overlapAtK": self.overlap,
            "rankCorrelation": self.rank_correlation,
            "candidate": self.candidate.summary(),
            "baseline": self.baseline.summary(),
            "thresholds": self.thresholds,
            "passed": self.passed,
            "failures": self.failures,
        }


Fetch = Callable[[str, float], tuple[int, dict[str, Any] | None, str]]


def fetch(url: str, timeout: float) -> tuple[int, dict[str, Any] | None, str]:
    """(status, JSON body or None, X-Model-Version) of one GET; status 0 when unreachable."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return (
                response.status,
                json.loads(response.read()),
                response.headers.get("X-Model-Version", ""),
            )
    except urllib.error.HTTPError as error:
        return error.code, None, error.headers.get("X-Model-Version", "")
    except (OSError, ValueError):
        return 0, None, ""


def overlap_at_k(candidate: Sequence[str], baseline: Sequence[str], k: int) -> float:
    """Share of the baseline's top k that the candidate's top k also holds."""
    return len(set(candidate[:k]) & set(baseline[:k])) / k


def rank_correlation(candidate: Sequence[str], baseline: Sequence[str], k: int) -> float:
    """Spearman's rho over the union of two top-k lists; a missing item ranks k+1."""
    items = list(dict.fromkeys([*candidate[:k], *baseline[:k]]))
    if len(items) < 2:
        return 1.0
    ranks = [_ranks(candidate[:k], items, k), _ranks(baseline[:k], items, k)]
    return _pearson(*ranks)


def compare(
    candidate_url: str,
    baseline_url: str,
    users: Sequence[str],
    k: int = 10,
    thresholds: dict[str, float] | None = None,
    *,
    timeout: float = 10.0,
    get: Fetch = fetch,
) -> Comparison:
    """Send every user to both versions and measure how far apart their answers are."""
    if not users:
        raise InputError("no user ids to compare with; give --user, --users-file or --users-from")
    if not 1 <= k <= 100:
        raise InputError(f"--k {k} must be between 1 and 100")
    sides = (Side(candidate_url.rstrip("/")), Side(baseline_url.rstrip("/")))
    overlaps, correlations = [], []
    for user in users:
        lists = [_ask(side, user, k, timeout, get) for side in sides]
        if lists[0] is None or lists[1] is None:
            continue
        overlaps.append(overlap_at_k(lists[0], lists[1], k))
        correlations.append(rank_correlation(lists[0], lists[1], k))
    if sides[0].answers == 0 and sides[1].answers == 0 and all(s.errors for s in sides):
        unreachable = ", ".join(side.url for side in sides)
        raise MlreleaseError(
            f"neither {unreachable} answered; check the per-version Services and that both "
            "versions are ready"
        )
    result = Comparison(
        k,
        len(users),
        statistics.fmean(overlaps) if overlaps else None,
        statistics.fmean(correlations) if correlations else None,
        sides[0],
        sides[1],
        dict(thresholds or {}),
        [],
    )
    result.failures = judge(result)
    return result


def judge(result: Comparison) -> list[str]:
    """What falls short of the thresholds; failed requests always fail the gate."""
    failures = []
    limits = result.thresholds
    for side, name in ((result.candidate, "candidate"), (result.baseline, "baseline")):
        if side.errors:
            failures.append(f"{side.errors} {name} requests failed")
    checks = (
        ("minOverlap", result.overlap, "overlap@k", lambda v, t: v >= t),
        ("minRankCorrelation", result.rank_correlation, "rank correlation", lambda v, t: v >= t),
    )
    for key, value, label, ok in checks:
        if key in limits and (value is None or not ok(value, limits[key])):
            shown = "no answers" if value is None else f"{value:.3f}"
            failures.append(f"{label} {shown} below {limits[key]:g}")
    if "maxFallbackIncrease" in limits:
        rates = [
            result.candidate.summary()["fallbackRate"],
            result.baseline.summary()["fallbackRate"],
        ]
        if None not in rates and rates[0] - rates[1] > limits["maxFallbackIncrease"]:
            failures.append(
                f"fallback rate {rates[0]:.1%} is {rates[0] - rates[1]:.1%} above the baseline's"
            )
    return failures


def table(result: Comparison) -> str:
    """A plain-text report."""
    rows = [("", "candidate", "baseline")]
    summaries = [result.candidate.summary(), result.baseline.summary()]
    rows.append(("version", summaries[0]["version"], summaries[1]["version"]))
    rows.append(("answers", *(f"{s['answers']} ({s['errors']} failed)" for s in summaries)))
    rows.append(("fallback rate", *(_percent(s["fallbackRate"]) for s in summaries)))
    rows.append(("latency p50", *(_ms(s["latencyP50Ms"]) for s in summaries)))
    rows.append(("latency p99", *(_ms(s["latencyP99Ms"]) for s in summaries)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines.append("")
    lines.append(
        f"overlap@{result.k}        {_number(result.overlap)}{_limit(result, 'minOverlap')}"
    )
    lines.append(
        f"rank correlation  {_number(result.rank_correlation)}"
        f"{_limit(result, 'minRankCorrelation')}"
    )
    lines.append(f"users             {result.users}")
    lines.append("")
    lines.append(summary_line(result))
    return "\n".join(lines) + "\n"


def summary_line(result: Comparison) -> str:
    """One line: agree or not, and why."""
    if result.passed:
        return f"agreement: ok ({'gate passed' if result.thresholds else 'no thresholds given'})"
    return "agreement: FAIL: " + "; ".join(result.failures)


def markdown(result: Comparison, title: str = "Model agreement") -> str:
    """The report as Markdown for a run summary."""
    c, b = result.candidate.summary(), result.baseline.summary()
    status = "ok" if result.passed else "failing"
    lines = [
        f"### {title}: {status}",
        "",
        f"{result.users} users, top {result.k}. overlap@{result.k} **{_number(result.overlap)}**"
        f"{_limit(result, 'minOverlap')}, rank correlation "
        f"**{_number(result.rank_correlation)}**{_limit(result, 'minRankCorrelation')}.",
        "",
        "| | candidate | baseline |",
        "|---|---|---|",
        f"| version | `{c['version']}` | `{b['version']}` |",
        f"| answers (failed) | {c['answers']} ({c['errors']}) | {b['answers']} ({b['errors']}) |",
        f"| fallback rate | {_percent(c['fallbackRate'])} | {_percent(b['fallbackRate'])} |",
        f"| latency p50 | {_ms(c['latencyP50Ms'])} | {_ms(b['latencyP50Ms'])} |",
        f"| latency p99 | {_ms(c['latencyP99Ms'])} | {_ms(b['latencyP99Ms'])} |",
    ]
    if result.failures:
        lines += ["", "Failing: " + "; ".join(result.failures) + "."]
    return "\n".join(lines) + "\n"


def _ask(side: Side, user: str, k: int, timeout: float, get: Fetch) -> list[str] | None:
    url = f"{side.url}/recommendations/{urllib.parse.quote(user, safe='')}?k={k}"
    started = time.perf_counter()
    status, body, version = get(url, timeout)
    side.latencies_ms.append((time.perf_counter() - started) * 1000)
    if status != 200 or body is None:
        side.errors += 1
        return None
    side.answers += 1
    side.version = side.version or version or str(body.get("version", ""))
    if body.get("fallback"):
        side.fallbacks += 1
    return [str(item["item_id"]) for item in body.get("items", [])]


def _ranks(ranked: Sequence[str], items: list[str], k: int) -> list[float]:
    position = {item: index + 1 for index, item in enumerate(ranked)}
    return [float(position.get(item, k + 1)) for item in items]


def _pearson(xs: list[float], ys: list[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sx = math.sqrt(sum((x - mx) ** 2 for x in xs))
    sy = math.sqrt(sum((y - my) ** 2 for y in ys))
    if sx == 0 or sy == 0:
        return 1.0 if sx == sy else 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / (sx * sy)


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def _limit(result: Comparison, key: str) -> str:
    return f" (min {result.thresholds[key]:g})" if key in result.thresholds else ""


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"
