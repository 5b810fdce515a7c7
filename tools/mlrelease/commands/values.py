"""`mlrelease values ...`: write Helm values files for a build without breaking them."""

import argparse
import sys
from pathlib import Path

from mlrelease.commands.build_values import register_build_values
from mlrelease.values import valuesfile, yamlio


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `values` command group."""
    parser = subparsers.add_parser(
        "values",
        help="Create or update Helm values files.",
        description="Create or update Helm values files for one build.",
    )
    values_subparsers = parser.add_subparsers(
        dest="values_command", metavar="ACTION", required=True
    )
    _register_set(values_subparsers)
    # Build-specific values files for the charts are registered after `set`.
    register_build_values(values_subparsers)


def _register_set(values_subparsers: argparse._SubParsersAction) -> None:
    parser = values_subparsers.add_parser(
        "set",
        help="Set KEY.PATH=VALUE pairs in a values file.",
        description=(
            "Set KEY.PATH=VALUE pairs in a values file, creating it and any missing maps. "
            "Comments, key order and quoting are kept. VALUE is read as a YAML scalar "
            "(true, 3, null, [a, b]) except that anything YAML would read as a float stays "
            "a string (a build number such as 20261127.3 is not a float); write "
            "'!!float 0.05' for a real float. Address list items with [N], e.g. "
            "versions[0].weight=90; escape a dot inside a key as \\."
        ),
    )
    parser.add_argument(
        "file", metavar="FILE", type=Path, help="Values file to read (may not exist yet)."
    )
    parser.add_argument(
        "assignments", metavar="KEY.PATH=VALUE", nargs="+", help="Assignments, applied in order."
    )
    parser.add_argument("--out", type=Path, help="Write here instead of updating FILE in place.")
    parser.add_argument(
        "--string",
        action="store_true",
        help="Keep every VALUE as a string, whatever it looks like.",
    )
    parser.set_defaults(func=_run_set)


def _run_set(args: argparse.Namespace) -> int:
    out = args.out or args.file
    yamlio.check_output_file(out, "--out" if args.out else "FILE")
    assignments = [valuesfile.parse_assignment(a, as_string=args.string) for a in args.assignments]
    document = yamlio.load_path(args.file) if args.file.exists() else None
    document = valuesfile.set_values(document, assignments)
    yamlio.write_atomic(out, yamlio.dumps(document))
    print(f"wrote {out}", file=sys.stderr)
    return 0
