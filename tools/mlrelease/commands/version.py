"""`mlrelease version BUILD_NUMBER`: print the version id of a build number."""

import argparse

from mlrelease.versions import version_id


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `version` command."""
    parser = subparsers.add_parser(
        "version",
        help="Print the version id for a build number.",
        description=(
            "Print the version id (a DNS-1035 label) that names the releases, Kubernetes "
            "objects, Istio subsets and model folder of one build."
        ),
    )
    parser.add_argument("build_number", metavar="BUILD_NUMBER", help="e.g. 20261127.3")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    print(version_id(args.build_number))
    return 0
