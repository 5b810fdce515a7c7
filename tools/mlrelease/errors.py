"""Errors that the command line turns into a one-line message and an exit code.

Library code raises these with a message that names what was wrong and how to fix it;
only `mlrelease.cli` prints them and chooses the exit code, so the library stays usable
from tests and from other programs.
"""


class MlreleaseError(Exception):
    """A failure the user can act on; the CLI exits 1."""

    exit_code = 1


class InputError(MlreleaseError):
    """The input (a flag, a file, an environment variable) is wrong; the CLI exits 2."""

    exit_code = 2
