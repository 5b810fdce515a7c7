"""Generate the Grafana dashboard of the scoring versions and their routing, as code.

The dashboard is built with grafana-foundation-sdk (Grafana's own typed builders) and written
as JSON into the routing chart (charts/routing/dashboards/), which ships it as a ConfigMap
for the Grafana sidecar. The JSON is committed; `--check` fails when it is not what this
script generates, and the tests run that check, so the file and its source cannot drift.

Queries read only the scoring service's metrics (scoring/metrics.py), Istio's standard
telemetry and the routing weights the routing chart records
(`mlrelease:routing_weight:percent`); tests/prometheus/ holds them to that.

    python tools/dashboard.py            # write the JSON
    python tools/dashboard.py --check    # exit 1 if the committed JSON is stale
"""

import argparse
import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import (
    dashboard,
    heatmap,
    prometheus,
    statetimeline,
    timeseries,
)
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

OUTPUT = Path(__file__).resolve().parents[1] / "charts/routing/dashboards/mlrelease-scoring.json"
UID = "mlrelease-scoring"
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")

# One place for the selectors every panel shares.
SCORING = 'namespace="$namespace", model_version=~"$version"'
SERVING = f'{SCORING}, endpoint=~"/recommendations/.*|/scores"'
ISTIO = (
    'reporter="destination", destination_service_namespace="$namespace", '
    'destination_service_name="$service"'
)
RATE = "$__rate_interval"


def _query(expr: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref)


def _timeseries(title: str, description: str, unit: str, *queries) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(8)
        .span(12)
    )
    for query in queries:
        panel = panel.with_target(query)
    return panel


def _per_version_rate(metric: str, matchers: str) -> str:
    return f"sum by (model_version) (rate({metric}{{{matchers}}}[{RATE}]))"


def _quantile(q: float, metric: str, matchers: str, by: str) -> str:
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}{{{matchers}}}[{RATE}])))"


def scoring_panels() -> list:
    requests = _per_version_rate("scoring_requests_total", SERVING)
    errors = _per_version_rate("scoring_request_errors_total", f'{SERVING}, status=~"5.."')
    recommendations = "scoring_recommendations_total"
    fallbacks = _per_version_rate(recommendations, f'{SCORING}, fallback="popularity"')
    answers = _per_version_rate(recommendations, SCORING)
    latency = "scoring_request_duration_seconds_bucket"
    top = "scoring_top_score_bucket"
    ready = (
        statetimeline.Panel()
        .title("Model loaded")
        .description(
            "1 when every live worker of every pod of the version has loaded and verified its "
            "model (scoring_model_ready, the minimum over pods)."
        )
    )
    ready = (
        ready.datasource(DATASOURCE)
        .height(8)
        .span(12)
        .mappings(
            [
                model.ValueMap(
                    options={
                        "0": model.ValueMappingResult(text="not ready", color="red", index=0),
                        "1": model.ValueMappingResult(text="ready", color="green", index=1),
                    }
                )
            ]
        )
        .with_target(
            _query(
                f"min by (model_version) (scoring_model_ready{{{SCORING}}})", "{{model_version}}"
            )
        )
    )
    return [
        _timeseries(
            "Requests per second",
            "Answers to /recommendations and /scores, per version.",
            "reqps",
            _query(requests, "{{model_version}}"),
        ),
        _timeseries(
            "5xx share",
            "Share of /recommendations and /scores answered with a server error "
            "(alert ScoringErrorShareHigh above 5%).",
            "percentunit",
            _query(f"{errors}\n/\n{requests}", "{{model_version}}"),
        ),
        _timeseries(
            "Latency p50 and p99",
            "In the worker, per version (alert ScoringLatencyP99High above 250ms).",
            "s",
            _query(_quantile(0.5, latency, SERVING, "model_version"), "{{model_version}} p50"),
            _query(
                _quantile(0.99, latency, SERVING, "model_version"), "{{model_version}} p99", "B"
            ),
        ),
        _timeseries(
            "Popularity fallback share",
            "Recommendation answers for unknown users, served from item popularity.",
            "percentunit",
            _query(f"{fallbacks}\n/\n{answers}", "{{model_version}}"),
        ),
        heatmap.Panel()
        .title("Top-1 score distribution")
        .description("Score of the best item in each personalised answer, selected versions.")
        .datasource(DATASOURCE)
        .height(8)
        .span(12)
        .with_target(
            _query(f"sum by (le) (increase({top}{{{SCORING}}}[{RATE}]))", "{{le}}").format(
                PromQueryFormat.HEATMAP
            )
        ),
        _timeseries(
            "Top-1 score median",
            "A version whose scores move far from the others' has learnt something else.",
            "none",
            _query(_quantile(0.5, top, SCORING, "model_version"), "{{model_version}}"),
        ),
        ready,
        _timeseries(
            "Model load failures",
            "Failed load attempts by reason: unavailable is retried; corrupt and unopenable "
            "are final (alert ScoringModelLoadFailed).",
            "short",
            _query(
                "sum by (model_version, reason) "
                f"(increase(scoring_model_load_failures_total{{{SCORING}}}[{RATE}]))",
                "{{model_version}} {{reason}}",
            ),
        ),
    ]


def routing_panels() -> list:
    istio_requests = f"istio_requests_total{{{ISTIO}}}"
    per_version = f"sum by (destination_version) (rate({istio_requests}[{RATE}]))"
    return [
        _timeseries(
            "Configured routing weights",
            "The split of the routing release now installed (the weights its PrometheusRule "
            "records), per version.",
            "percent",
            _query(
                "max by (destination_version) "
                '(mlrelease:routing_weight:percent{namespace="$namespace", host="$service"})',
                "{{destination_version}}",
            ),
        ),
        _timeseries(
            "Observed traffic share (Istio)",
            "Requests each version's sidecars received; mirrored copies are counted too.",
            "percentunit",
            _query(
                f"{per_version}\n/ ignoring (destination_version) group_left\n"
                f"sum(rate({istio_requests}[{RATE}]))",
                "{{destination_version}}",
            ),
        ),
        _timeseries(
            "5xx share (Istio)",
            "Server errors per version as the sidecar saw them, including those the service "
            "never counted (crashes, timeouts).",
            "percentunit",
            _query(
                "sum by (destination_version) (rate(istio_requests_total"
                f'{{{ISTIO}, response_code=~"5.."}}[{RATE}]))\n/\n{per_version}',
                "{{destination_version}}",
            ),
        ),
        _timeseries(
            "Latency p99 (Istio)",
            "Including the sidecar, per version.",
            "ms",
            _query(
                _quantile(
                    0.99,
                    "istio_request_duration_milliseconds_bucket",
                    ISTIO,
                    "destination_version",
                ),
                "{{destination_version}}",
            ),
        ),
    ]


def _variable(name: str, label: str, query: str) -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.NATURAL_ASC)
    )


def build() -> dict:
    """The dashboard as JSON-ready data."""
    board = (
        dashboard.Dashboard("mlrelease: scoring versions and routing")
        .uid(UID)
        .description(
            "Per model version: traffic, errors, latency, fallbacks, top-1 scores and model "
            "state; and how the routing release splits traffic between versions."
        )
        .tags(["mlrelease", "scoring", "istio"])
        .editable()
        .refresh("30s")
        .time("now-3h", "now")
        .timezone("utc")
        .with_variable(
            dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
        .with_variable(
            _variable("namespace", "Namespace", "label_values(scoring_requests_total, namespace)")
        )
        .with_variable(
            _variable(
                "version",
                "Version",
                'label_values(scoring_requests_total{namespace="$namespace"}, model_version)',
            )
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
        .with_variable(
            _variable(
                "service",
                "Routed service",
                'label_values(mlrelease:routing_weight:percent{namespace="$namespace"}, host)',
            )
        )
        .with_row(dashboard.Row("Scoring, per version"))
    )
    for panel in scoring_panels():
        board = board.with_panel(panel)
    board = board.with_row(dashboard.Row("Routing"))
    for panel in routing_panels():
        board = board.with_panel(panel)
    return json.loads(json.dumps(board.build(), cls=JSONEncoder))


def render() -> str:
    """The exact text committed to the chart."""
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="Write nothing; exit 1 if the committed dashboard differs from the generated one.",
    )
    parser.add_argument(
        "--out", type=Path, default=OUTPUT, help="Where the JSON goes (default: the chart)."
    )
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not args.out.exists() or args.out.read_text(encoding="utf-8") != text:
            print(
                f"{args.out} is not what tools/dashboard.py generates; "
                "run python tools/dashboard.py and commit the result",
                file=sys.stderr,
            )
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
