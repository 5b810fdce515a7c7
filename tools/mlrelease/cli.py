"""mlrelease: version ids, provenance, values files, traffic splits and model checks for
shipping a machine-learning model to Kubernetes with Helm and Istio.

Results go to stdout so they can be piped; logs and errors go to stderr. Bad input
exits with code 2 and writes nothing.
"""

import argparse
import logging
import sys

from mlrelease import __version__
from mlrelease.commands import (
    analyze,
    compare,
    demo,
    model,
    package,
    provenance,
    template,
    traffic,
    values,
    version,
)
from mlrelease.errors import MlreleaseError

# Each module defines `register(subparsers)`; its parsers set `func(args) -> int`. Heavy
# libraries (the Helm engine, the store clients) load inside the commands that use them.
COMMANDS = (
    version,
    provenance,
    values,
    template,
    package,
    traffic,
    model,
    analyze,
    compare,
    demo,
)

log = logging.getLogger("mlrelease")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser; also used by tests that check pipeline command lines."""
    parser = argparse.ArgumentParser(
        prog="mlrelease",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mlrelease {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="Log debugging detail to stderr."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one mlrelease command and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The Azure SDK logs every HTTP request and response at INFO.
    logging.getLogger("azure").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return args.func(args)
    except MlreleaseError as error:
        print(f"mlrelease {args.command}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"mlrelease {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
