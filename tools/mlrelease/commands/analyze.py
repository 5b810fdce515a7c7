"""`mlrelease analyze`: judge one canary step from Prometheus, like Flagger or Argo Rollouts do,
plus checks of what the model answers.

The candidate is compared with the baseline over the analysis interval: request success
rate (non-5xx share) and p99 latency from Istio's standard telemetry
(`istio_requests_total`, `istio_request_duration_milliseconds_bucket`, reporter
"destination", by destination_service_name and destination_version), and the popularity
fallback share and median top-1 score from the scoring service's own metrics. Thresholds
come from an analysis document (`--config`, validated by a schema; defaults otherwise).

Exit codes: 0 healthy (go on), 1 failing (roll back): a check out of range, too little
traffic within the interval, or Prometheus unreachable; 2 bad input. The verdict is printed
as a table; `--markdown FILE` writes it for the pipeline's run summary; `--explain` prints
each check's PromQL without querying. In Azure Pipelines the Markdown is attached to the
run's summary.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from mlrelease.analysis import document as analysis_document
from mlrelease.analysis import verdict as verdicts
from mlrelease.analysis.checks import Scope, requests_by_version
from mlrelease.analysis.prometheus import Prometheus, PrometheusError
from mlrelease.errors import InputError
from mlrelease.traffic import document as routing_document
from mlrelease.traffic import operations
from mlrelease.values import yamlio
from mlrelease.versions import check_version_id


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `analyze` command."""
    parser = subparsers.add_parser(
        "analyze",
        help="Judge one canary step from Prometheus metrics; exit 1 means roll back.",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--candidate", required=True, help="The version id being rolled out.")
    baseline = parser.add_mutually_exclusive_group(required=True)
    baseline.add_argument("--baseline", help="The version id to compare with.")
    baseline.add_argument(
        "--baseline-from",
        type=Path,
        metavar="ROUTING",
        help="Routing values in force before the rollout: the baseline is the version with "
        "the largest weight there other than the candidate.",
    )
    parser.add_argument(
        "--prometheus-url",
        help="Prometheus's base URL, e.g. http://prometheus.istio-system:9090 "
        "(not needed with --explain).",
    )
    parser.add_argument(
        "--config", type=Path, help="Analysis document (YAML); every default applies without it."
    )
    parser.add_argument(
        "--interval", help="Override the document's interval, e.g. 30s or 5m (a duration)."
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="Seconds per Prometheus query (10)."
    )
    parser.add_argument(
        "--explain", action="store_true", help="Print each check's PromQL and exit; no query."
    )
    parser.add_argument("--markdown", type=Path, help="Also write the verdict as Markdown here.")
    parser.add_argument("--json", type=Path, help="Also write the verdict as JSON here.")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    candidate = check_version_id(args.candidate)
    baseline = check_version_id(args.baseline) if args.baseline else _baseline(args, candidate)
    if baseline == candidate:
        raise InputError(f"the baseline is the candidate {candidate}; name another version")
    # Checked before Prometheus is asked: a bad report path must not cost the verdict.
    for flag, output in (("--markdown", args.markdown), ("--json", args.json)):
        if output is not None:
            yamlio.check_output_file(output, flag)
    document = analysis_document.load(args.config)
    if args.interval:
        analysis_document.seconds(args.interval)
        document["interval"] = args.interval
    if args.explain:
        for check, query, baseline_query in verdicts.plan(document, candidate, baseline):
            print(f"{check.name}\n  candidate: {query}\n  baseline:  {baseline_query}")
        return 0
    if not args.prometheus_url:
        raise InputError("--prometheus-url is required unless --explain is given")
    source = Prometheus(args.prometheus_url, timeout=args.timeout)
    verdict = verdicts.judge(
        document, candidate, baseline, source, log=lambda line: print(line, file=sys.stderr)
    )
    verdict.traffic = _observed_split(source, document, candidate)
    print(verdicts.table(verdict), end="")
    if args.markdown:
        yamlio.write_atomic(args.markdown, verdicts.markdown(verdict))
        if os.environ.get("TF_BUILD"):
            # Azure Pipelines attaches the file to the run's summary page, pass or fail.
            print(f"##vso[task.uploadsummary]{args.markdown.resolve()}")
    if args.json:
        yamlio.write_atomic(args.json, json.dumps(verdict.to_dict(), indent=2) + "\n")
    return 0 if verdict.passed else 1


def _observed_split(source: Prometheus, document: dict, candidate: str) -> dict[str, float] | None:
    """Requests per version within the interval; None (with a warning) where Prometheus does
    not answer, because the split only illustrates the verdict and must not overturn it."""
    scope = Scope(document["service"], candidate, document["interval"], document["namespace"])
    try:
        samples = source.query(requests_by_version(scope))
    except PrometheusError as error:
        print(f"warning: no observed split for the summary: {error}", file=sys.stderr)
        return None
    return {labels.get("destination_version", ""): value for labels, value in samples}


def _baseline(args: argparse.Namespace, candidate: str) -> str:
    routing = routing_document.check(yamlio.load_path(args.baseline_from), str(args.baseline_from))
    try:
        return operations.baseline(routing, candidate)
    except InputError as error:
        raise InputError(f"{args.baseline_from}: {error} with --baseline") from None
