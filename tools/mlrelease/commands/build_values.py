"""`mlrelease values training|scoring`: write the complete values file for one build.

Everything comes from flags and the Azure Pipelines environment (build number -> version id,
image tag, model location, provenance). The document is checked against the chart's
values.schema.json on the embedded Helm engine before anything is written, so a pipeline
never installs a release from values the chart would reject.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mlrelease.commands.provenance import add_provenance_flags, provenance_from_args
from mlrelease.errors import InputError
from mlrelease.values import buildvalues, valuesfile, yamlio


def register_build_values(values_subparsers: argparse._SubParsersAction) -> None:
    """Add `values training` and `values scoring` to the `values` command group."""
    training = _add_parser(values_subparsers, "training", "the training Job")
    training.add_argument(
        "--data-uri",
        required=True,
        help="Where the day's interaction CSVs are, e.g. az://exports/2026/11/27.",
    )
    training.set_defaults(func=_run_training)
    scoring = _add_parser(values_subparsers, "scoring", "the scoring Deployment")
    scoring.set_defaults(func=_run_scoring)


def _add_parser(
    values_subparsers: argparse._SubParsersAction, chart: str, what: str
) -> argparse.ArgumentParser:
    parser = values_subparsers.add_parser(
        chart,
        help=f"Write the values file for {what} of one build.",
        description=(
            f"Write a complete values file for {what} of one build (release {chart}-<version "
            f"id>) from flags and the Azure Pipelines environment, checked against the "
            f"chart's schema before anything is written. The build number comes from "
            f"--build-number or $BUILD_BUILDNUMBER."
        ),
    )
    parser.add_argument(
        "--out", dest="output", type=Path, required=True, help="Values file to write."
    )
    parser.add_argument(
        "--chart",
        type=Path,
        default=Path("charts") / chart,
        help=f"Chart whose schema the values must satisfy (default: charts/{chart}).",
    )
    parser.add_argument(
        "--image-repository", required=True, help="Image repository, e.g. myacr.azurecr.io/x."
    )
    parser.add_argument("--image-tag", help="Image tag (default: the build number).")
    parser.add_argument("--models-uri", required=True, help="Model store root, e.g. az://models.")
    parser.add_argument("--model-name", default="recommender", help="Model name (recommender).")
    storage = parser.add_argument_group(
        "storage", "Credentials are referenced, never passed: a Secret, or workload identity."
    )
    storage.add_argument(
        "--storage-secret", metavar="NAME", help="Secret with the connection string."
    )
    storage.add_argument(
        "--storage-secret-key",
        metavar="KEY",
        default="connection-string",
        help="Key in that Secret (connection-string).",
    )
    storage.add_argument(
        "--workload-identity-client-id", metavar="GUID", help="Azure workload identity client id."
    )
    storage.add_argument(
        "--storage-account-url", metavar="URL", help="https://<account>.blob.core.windows.net"
    )
    storage.add_argument("--volume-claim", metavar="PVC", help="PersistentVolumeClaim to mount.")
    storage.add_argument(
        "--volume-mount-path", metavar="PATH", default="/models", help="Where (/models)."
    )
    parser.add_argument(
        "--value",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help=(
            "Any other chart value, read as by `mlrelease values set` (no float surprises), "
            "e.g. hyperparameters.epochs=30. Repeat."
        ),
    )
    add_provenance_flags(parser)
    return parser


def _build(args: argparse.Namespace) -> buildvalues.Build:
    yamlio.check_output_file(args.output, "--out")
    provenance = provenance_from_args(args)
    if not provenance.build_number:
        raise InputError("no build number: pass --build-number or set BUILD_BUILDNUMBER")
    return buildvalues.Build(
        build_number=provenance.build_number,
        image_repository=args.image_repository,
        image_tag=args.image_tag,
        models_uri=args.models_uri,
        model_name=args.model_name,
        provenance=provenance,
        storage=buildvalues.Storage(
            secret_name=args.storage_secret,
            secret_key=args.storage_secret_key,
            workload_identity_client_id=args.workload_identity_client_id,
            account_url=args.storage_account_url,
            volume_claim=args.volume_claim,
            volume_mount_path=args.volume_mount_path,
        ),
    )


def _overrides(assignments: list[str]) -> dict[str, Any]:
    parsed = [valuesfile.parse_assignment(assignment) for assignment in assignments]
    for assignment, (_, value) in zip(assignments, parsed, strict=True):
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise InputError(
                f"--value {assignment!r}: {type(value).__name__} is not a chart value (YAML "
                "reads it as a date, a tag or a non-finite number); quote it to pass text, "
                "e.g. --value 'key=\"2020-01-01\"'"
            ) from None
    return json.loads(json.dumps(valuesfile.set_values({}, parsed)))


def _write(args: argparse.Namespace, values: dict[str, Any], chart_name: str) -> int:
    from mlrelease.values import helm

    chart = helm.load_chart(args.chart)
    if chart.name != chart_name:
        raise InputError(f"--chart {args.chart} is the {chart.name!r} chart, not {chart_name!r}")
    values = valuesfile.numbers_where_schema_says(values, chart.schema)
    helm.validate_values(chart, values)
    header = (
        f"# Values for {chart_name}-{values['versionId']} (build {values['buildNumber']}), "
        f"written by `mlrelease values {chart_name}`.\n"
    )
    yamlio.write_atomic(args.output, header + yamlio.dumps(values))
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _run_training(args: argparse.Namespace) -> int:
    values = buildvalues.training_values(_build(args), args.data_uri, _overrides(args.sets))
    return _write(args, values, "training")


def _run_scoring(args: argparse.Namespace) -> int:
    values = buildvalues.scoring_values(_build(args), _overrides(args.sets))
    return _write(args, values, "scoring")
