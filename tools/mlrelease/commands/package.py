"""`mlrelease package CHART -f VALUES --build-number N`: the chart of one build as an artifact.

The values are baked in as the chart's defaults (values.yaml of the packaged copy), the chart
version gets the build as semver build metadata (`0.1.0+20261127.3`) and appVersion is the
build number, so `helm install NAME chart.tgz` re-creates the release years later from the
artifact alone, rendering exactly what `mlrelease template CHART -f VALUES` renders today.
"""

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

from mlrelease.commands.template import add_values_flags, collect_values
from mlrelease.errors import InputError
from mlrelease.values import yamlio

_NOT_METADATA = re.compile(r"[^0-9A-Za-z-]+")


def build_metadata(build_number: str) -> str:
    """Semver build metadata for a build number: [0-9A-Za-z-] identifiers joined by dots."""
    identifiers = [_NOT_METADATA.sub("-", part).strip("-") for part in build_number.split(".")]
    metadata = ".".join(part for part in identifiers if part)
    if not metadata:
        raise InputError(
            f"build number {build_number!r} has no letters or digits to use as chart version "
            f"metadata; pass the value of $(Build.BuildNumber)"
        )
    return metadata


def chart_version(version: str, build_number: str) -> str:
    """`<chart version>+<build metadata>`, replacing any metadata the version already has."""
    return f"{version.split('+', 1)[0]}+{build_metadata(build_number)}"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `package` command."""
    parser = subparsers.add_parser(
        "package",
        help="Package a chart with one build's values baked in.",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("chart", metavar="CHART", type=Path, help="Chart directory or .tgz.")
    add_values_flags(parser)
    parser.add_argument(
        "--build-number", required=True, help="The build, e.g. $(Build.BuildNumber)."
    )
    parser.add_argument(
        "-d",
        "--destination",
        type=Path,
        default=Path("."),
        help="Folder for the .tgz (default: the current folder).",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from mlrelease.values import helm

    chart = helm.load_chart(args.chart)
    values = collect_values(args)
    helm.validate_values(chart, values)
    version = chart_version(chart.version, args.build_number)
    baked = chart.merge_values(values)
    args.destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mlrelease-package-") as work:
        # The loaded chart already leaves out what .helmignore excludes.
        copy = Path(chart.save_dir(work))
        header = f"# Values baked in for build {args.build_number} by `mlrelease package`.\n"
        (copy / "values.yaml").write_text(header + yamlio.dumps(baked), encoding="utf-8")
        with tempfile.TemporaryDirectory(prefix="out-", dir=work) as out:
            archive = Path(
                helm.package_chart(
                    copy, destination=out, version=version, app_version=args.build_number
                )
            )
            target = args.destination / archive.name
            shutil.move(archive, target)
    print(target)
    print(f"packaged {chart.name} {version} with its values as defaults", file=sys.stderr)
    return 0
