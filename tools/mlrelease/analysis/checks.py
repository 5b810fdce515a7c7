"""The checks of a canary step and the PromQL each one runs, per version.

Two sources, both per version:

- Istio's standard telemetry as reported by the server side (`reporter="destination"`):
  `istio_requests_total` and `istio_request_duration_milliseconds_bucket`, selected by
  `destination_service_name` and `destination_version`. Istio fills `destination_version`
  from the pod label `service.istio.io/canonical-revision`, which the scoring chart sets to
  the version id, so these series name versions the way the routing subsets do.
- The scoring service's own `/metrics`, labelled by `model_version`: what a model answers
  (popularity fallbacks, the score of its best item), which no mesh can see.

Every query is a plain string a person can paste into Prometheus (`analyze --explain`).
"""

import dataclasses
from collections.abc import Callable

REQUESTS = "istio_requests_total"
DURATION_BUCKETS = "istio_request_duration_milliseconds_bucket"
RECOMMENDATIONS = "scoring_recommendations_total"
TOP_SCORE_BUCKETS = "scoring_top_score_bucket"


@dataclasses.dataclass(frozen=True)
class Scope:
    """Whose series a query selects: one version behind one Service, over one window."""

    service: str
    version: str
    window: str
    namespace: str = ""

    def service_matchers(self) -> list[str]:
        """The label matchers of Istio's server-side series for the Service, any version."""
        matchers = [
            'reporter="destination"',
            f'destination_service_name="{_escape(self.service)}"',
        ]
        if self.namespace:
            matchers.append(f'destination_service_namespace="{_escape(self.namespace)}"')
        return matchers

    def istio(self, extra: str = "") -> str:
        """The label matchers of Istio's server-side series for this version."""
        matchers = self.service_matchers()
        matchers.append(f'destination_version="{_escape(self.version)}"')
        if extra:
            matchers.append(extra)
        return ", ".join(matchers)

    def scoring(self, extra: str = "") -> str:
        """The label matchers of the scoring service's series for this version."""
        matchers = [f'model_version="{_escape(self.version)}"']
        if extra:
            matchers.append(extra)
        return ", ".join(matchers)


@dataclasses.dataclass(frozen=True)
class Check:
    """One declared check: its document key, how to show its value, and its query."""

    key: str
    name: str
    unit: str
    query: Callable[[Scope], str]

    def format(self, value: float | None) -> str:
        """A value as the table shows it."""
        return format_value(value, self.unit)


def request_count(scope: Scope) -> str:
    """Requests the version answered within the window."""
    return f"sum(increase({REQUESTS}{{{scope.istio()}}}[{scope.window}]))"


def requests_by_version(scope: Scope) -> str:
    """Requests each version behind the Service answered within the window: the split the
    mesh delivered, which the release summary draws beside the configured weights."""
    matchers = ", ".join(scope.service_matchers())
    return f"sum by (destination_version) (increase({REQUESTS}{{{matchers}}}[{scope.window}]))"


def success_rate(scope: Scope) -> str:
    """Non-5xx share of the version's requests."""
    not_5xx = scope.istio('response_code!~"5.."')
    good = f"sum(rate({REQUESTS}{{{not_5xx}}}[{scope.window}]))"
    return f"{good} / sum(rate({REQUESTS}{{{scope.istio()}}}[{scope.window}]))"


def latency_p99(scope: Scope) -> str:
    """The version's 99th percentile request duration, in milliseconds."""
    rate = f"rate({DURATION_BUCKETS}{{{scope.istio()}}}[{scope.window}])"
    return f"histogram_quantile(0.99, sum by (le) ({rate}))"


def fallback_share(scope: Scope) -> str:
    """Share of the version's recommendation answers that fell back to popularity."""
    fallback = scope.scoring('fallback!="none"')
    return (
        f"sum(rate({RECOMMENDATIONS}{{{fallback}}}[{scope.window}])) / "
        f"sum(rate({RECOMMENDATIONS}{{{scope.scoring()}}}[{scope.window}]))"
    )


def top_score_median(scope: Scope) -> str:
    """Median score of the best item in the version's personalised answers."""
    rate = f"rate({TOP_SCORE_BUCKETS}{{{scope.scoring()}}}[{scope.window}])"
    return f"histogram_quantile(0.5, sum by (le) ({rate}))"


REQUEST_COUNT = Check("minRequests", "request-count", "requests", request_count)
# In the order they are judged and shown; keys are the analysis document's metric keys.
METRICS = (
    Check("successRate", "success-rate", "share", success_rate),
    Check("latencyP99", "latency-p99", "ms", latency_p99),
    Check("fallbackShare", "fallback-share", "share", fallback_share),
    Check("topScoreMedian", "top1-score-median", "score", top_score_median),
)


def format_value(value: float | None, unit: str) -> str:
    """`99.5%`, `12.3 ms`, `1523`, `2.41`; `no data` for a missing value."""
    if value is None:
        return "no data"
    if unit == "share":
        return f"{value:.2%}"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "requests":
        return f"{value:.0f}"
    return f"{value:.3g}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
