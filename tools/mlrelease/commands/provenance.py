"""`mlrelease provenance`: print the labels and annotations that describe this build."""

import argparse
import json
import os

from mlrelease.provenance import AZURE_PIPELINES_ENV, Provenance, from_environment
from mlrelease.values import yamlio


def add_provenance_flags(parser: argparse.ArgumentParser) -> None:
    """Flags that override each Azure Pipelines variable (shared by the values commands)."""
    group = parser.add_argument_group(
        "provenance", "Each flag overrides the Azure Pipelines variable named in its help."
    )
    for field, variable in AZURE_PIPELINES_ENV.items():
        group.add_argument(
            "--" + field.replace("_", "-"),
            dest=f"provenance_{field}",
            metavar="VALUE",
            help=f"Defaults to ${variable}.",
        )


def provenance_from_args(args: argparse.Namespace) -> Provenance:
    """The Provenance for these parsed flags over the process environment."""
    overrides = {field: getattr(args, f"provenance_{field}") for field in AZURE_PIPELINES_ENV}
    return from_environment(os.environ, overrides)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `provenance` command."""
    parser = subparsers.add_parser(
        "provenance",
        help="Print provenance labels and annotations for this build.",
        description=(
            "Read the Azure Pipelines environment (and flags that override it) and print "
            "the Kubernetes labels and annotations that tie objects and models to this "
            "pipeline run. Variables that are unset are left out."
        ),
    )
    add_provenance_flags(parser)
    parser.add_argument(
        "--format", choices=("yaml", "json"), default="yaml", help="Output format (yaml)."
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    provenance = provenance_from_args(args)
    document = {"labels": provenance.labels(), "annotations": provenance.annotations()}
    if args.format == "json":
        print(json.dumps(document, indent=2, sort_keys=True))
    else:
        print(yamlio.dumps(document), end="")
    return 0
