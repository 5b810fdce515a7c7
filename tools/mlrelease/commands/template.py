"""`mlrelease template CHART -f VALUES...`: render a chart locally on the embedded Helm engine.

Prints the manifests `helm install` would create (like `helm template`), after checking the
values against the chart's schema; any failure is reported with Helm's own message.
"""

import argparse
import sys
from pathlib import Path
from typing import Any


def add_values_flags(parser: argparse.ArgumentParser) -> None:
    """`-f/--values` and `--set`, as helm takes them (shared with `package`)."""
    parser.add_argument(
        "-f",
        "--values",
        dest="values_files",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="Values file; repeat to layer several, later files winning.",
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Set one value in Helm --set syntax; applied after the files.",
    )


def collect_values(args: argparse.Namespace) -> dict[str, Any]:
    """The values given by -f files and --set expressions, merged as helm merges them."""
    from mlrelease.values import helm

    values = helm.load_values_files(args.values_files)
    for expression in args.sets:
        values = helm.merge_values(values, helm.parse_set(expression))
    return values


def default_release(chart_name: str, merged: dict[str, Any]) -> str:
    """`<chart>-<version id>` for a build chart, else the chart name."""
    version = merged.get("versionId")
    return f"{chart_name}-{version}" if version else chart_name


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `template` command."""
    parser = subparsers.add_parser(
        "template",
        help="Render a chart locally and print its manifests.",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("chart", metavar="CHART", type=Path, help="Chart directory or .tgz.")
    add_values_flags(parser)
    parser.add_argument(
        "--release",
        help="Release name (default: <chart>-<versionId>, or the chart name without one).",
    )
    parser.add_argument("--namespace", default="default", help="Release namespace (default).")
    parser.add_argument("--notes", action="store_true", help="Also print NOTES.txt (to stderr).")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from mlrelease.values import helm

    chart = helm.load_chart(args.chart)
    values = collect_values(args)
    release = args.release or default_release(chart.name, chart.merge_values(values))
    rendered = helm.render(chart, values, release=release, namespace=args.namespace)
    sys.stdout.write(helm.manifest_text(rendered))
    if args.notes:
        for path, text in rendered.items():
            if path.endswith("NOTES.txt"):
                print(text, file=sys.stderr)
    return 0
