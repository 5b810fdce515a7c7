"""mlrelease: version ids, provenance, values files, traffic splits and model checks for
shipping a machine-learning model to Kubernetes with Helm and Istio.

Results go to stdout so they can be piped; logs and errors go to stderr. Bad input
exits with code 2 and writes nothing; a failure of this machine or the store exits 1.
"""

import argparse
import logging
import os
import sys
import traceback

from mlrelease import __version__
from mlrelease.commands import (
    analyze,
    compare,
    demo,
    model,
    package,
    provenance,
    summary,
    template,
    traffic,
    values,
    version,
)
from mlrelease.errors import MlreleaseError, check_printable

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
    summary,
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
        _check_arguments(args)
        return args.func(args)
    except MlreleaseError as error:
        print(f"mlrelease {args.command}: error: {one_line(str(error))}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"mlrelease {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as error:
        # Each command checks its paths first; this is the net for what no check can
        # foresee (a full disk, a permission changed mid-run), said in one line.
        print(f"mlrelease {args.command}: error: {describe_os_error(error)}", file=sys.stderr)
        return 1
    except Exception as error:
        # The one place a bug becomes a message: the user gets one line and the way to
        # the details, never a traceback in the middle of a pipeline log.
        if args.verbose:
            traceback.print_exc()
        print(
            f"mlrelease {args.command}: internal error: {type(error).__name__}: "
            f"{one_line(str(error))}. "
            "This is a bug in mlrelease; run again with --verbose for the details and report it",
            file=sys.stderr,
        )
        return 1


def one_line(message: str) -> str:
    """A message on one line: a pipeline log shows one line per failure, and a multi-line
    message from a library (the store, Helm) would read as several failures."""
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def describe_os_error(error: OSError) -> str:
    """`<what failed>: <path>`, without Python's `[Errno N]` noise, plus what to check."""
    reason = one_line(error.strerror or str(error))
    paths = [
        os.fsdecode(p) if isinstance(p, str | bytes | os.PathLike) else str(p)
        for p in (error.filename, error.filename2)
        if p is not None
    ]
    where = f": {' -> '.join(paths)}" if paths else ""
    return f"{reason}{where}; check the path, its permissions and the free space"


def _check_arguments(args: argparse.Namespace) -> None:
    """Refuse control characters in any argument: each value can end up in a YAML file,
    a Kubernetes label or a log line, where a newline injects keys or forges lines."""
    for name, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str | os.PathLike) and not callable(item):
                check_printable(os.fspath(item), f"the {name.replace('_', '-')} argument")


if __name__ == "__main__":
    sys.exit(main())
