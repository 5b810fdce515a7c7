"""Errors that the command line turns into a one-line message and an exit code.

Library code raises these with a message that names what was wrong and how to fix it;
only `mlrelease.cli` prints them and chooses the exit code, so the library stays usable
from tests and from other programs.
"""

import unicodedata


class MlreleaseError(Exception):
    """A failure the user can act on; the CLI exits 1."""

    exit_code = 1


class InputError(MlreleaseError):
    """The input (a flag, a file, an environment variable) is wrong; the CLI exits 2."""

    exit_code = 2


def check_printable(text: str, what: str) -> str:
    """Return `text`, or raise InputError if it holds a control or line-separator character.

    Every value mlrelease takes can reach a YAML file, a label, an annotation or a log
    line; a newline there can add a YAML key (through a header comment, for instance) or
    forge a log line, and a tab or NUL breaks the consumers. So they are refused at input.
    """
    for position, char in enumerate(text):
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            raise InputError(
                f"{what} contains the control character U+{ord(char):04X} at position "
                f"{position}; pass the value on one line, without control characters"
            )
    return text
