"""`mlrelease package CHART -f VALUES --build-number N`: the chart of one build as an artifact.

The values are baked in as the chart's defaults (values.yaml of the packaged copy), the chart
version gets the build as semver build metadata (`0.1.0+20261127.3`) and appVersion is the
build number, so `helm install NAME chart.tgz` re-creates the release years later from the
artifact alone, rendering exactly what `mlrelease template CHART -f VALUES` renders today.

An artifact is only trustworthy if it is what it claims: the values' build number and
version id must be those of --build-number; the chart's own placeholder values are packaged
only when asked for (--chart-defaults); the archive is byte-identical for identical inputs
(fixed timestamps, owners and order), so its sha256 identifies it; and an archive of the
same name but other content is never overwritten.
"""

import argparse
import gzip
import hashlib
import io
import os
import re
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlrelease.commands.template import add_values_flags, collect_values
from mlrelease.errors import InputError
from mlrelease.values import yamlio
from mlrelease.versions import version_id

_NOT_METADATA = re.compile(r"[^0-9A-Za-z-]+")
_METADATA = re.compile(r"[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*")
_HASH_LENGTH = 8
# Every member of a packaged archive gets this time (2000-01-01T00:00:00Z), owner and mode.
ARCHIVE_MTIME = 946684800


def build_metadata(build_number: str) -> str:
    """Semver build metadata for a build number: [0-9A-Za-z-] identifiers joined by dots.

    As with version ids, a build number that had to be changed to fit gets a short hash of
    the raw build number appended, so two build numbers never share an archive name.
    """
    if _METADATA.fullmatch(build_number):
        return build_number
    identifiers = [_NOT_METADATA.sub("-", part).strip("-") for part in build_number.split(".")]
    metadata = ".".join(part for part in identifiers if part)
    if not metadata:
        raise InputError(
            f"build number {build_number!r} has no letters or digits to use as chart version "
            f"metadata; pass the value of $(Build.BuildNumber)"
        )
    digest = hashlib.sha256(build_number.encode("utf-8")).hexdigest()[:_HASH_LENGTH]
    return f"{metadata}.{digest}"


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
    parser.add_argument(
        "--chart-defaults",
        action="store_true",
        help=(
            "Package the chart's own default values (placeholders such as buildNumber: dev) "
            "when no -f or --set is given. The routing chart, whose values are written at "
            "release time, is packaged this way."
        ),
    )
    parser.set_defaults(func=_run)


def check_build(
    values: Mapping[str, Any], given: Mapping[str, Any], build_number: str, *, defaults: bool
) -> None:
    """The values must describe the build being packaged.

    `values` are the merged values, `given` what -f/--set supplied. With `defaults`, only
    the keys the user gave are checked (the chart's placeholders were asked for).
    """
    expected = {"buildNumber": build_number, "versionId": version_id(build_number)}
    for key, want in expected.items():
        if key not in values or (defaults and key not in given):
            continue
        if str(values[key]) != want:
            raise InputError(
                f"the values say {key}: {values[key]!r}, but --build-number {build_number!r} "
                f"needs {want!r}; package the values file written for this build "
                f"(`mlrelease values ... --build-number {build_number}`)"
            )


def normalise_archive(data: bytes) -> bytes:
    """The same .tgz with fixed times, owners, modes and member order: identical inputs give
    identical bytes, so the archive's sha256 names its content."""
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as source,
        gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as target,
    ):
        for member in sorted(source.getmembers(), key=lambda m: m.name):
            content = source.extractfile(member) if member.isfile() else None
            member.mtime = ARCHIVE_MTIME
            member.uid = member.gid = 0
            member.uname = member.gname = ""
            member.mode = 0o755 if member.isdir() else 0o644
            member.pax_headers = {}
            target.addfile(member, content)
    return out.getvalue()


def _run(args: argparse.Namespace) -> int:
    from mlrelease.values import helm

    yamlio.check_output_folder(args.destination, "--destination")
    if not (args.values_files or args.sets or args.chart_defaults):
        raise InputError(
            "no values given: pass -f with this build's values file (from `mlrelease values "
            "training|scoring`), or --chart-defaults to package the chart's own placeholder "
            "values on purpose"
        )
    chart = helm.load_chart(args.chart)
    values = collect_values(args)
    helm.validate_values(chart, values)
    version = chart_version(chart.version, args.build_number)
    baked = chart.merge_values(values)
    check_build(baked, values, args.build_number, defaults=args.chart_defaults)
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
            name, data = archive.name, normalise_archive(archive.read_bytes())
    target = args.destination / name
    if target.is_file() and target.read_bytes() == data:
        print(target)
        print(f"{target} already holds this exact package; left as it was", file=sys.stderr)
        return 0
    if target.exists() or target.is_symlink():
        raise InputError(
            f"{target} already exists with other content; a packaged build is immutable: "
            "package this build into an empty --destination, or package a new build number"
        )
    _write_new(target, data)
    print(target)
    print(f"packaged {chart.name} {version} with its values as defaults", file=sys.stderr)
    return 0


def _write_new(target: Path, data: bytes) -> None:
    """Write `data` to a new file: a temporary sibling, then a link that fails if `target`
    appeared meanwhile, so a racing packager's archive is never replaced."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        try:
            os.link(temporary, target)
        except FileExistsError:
            raise InputError(f"{target} was created by another process meanwhile") from None
    finally:
        Path(temporary).unlink(missing_ok=True)
