"""The real `mlrelease` command line as a subprocess, isolated from the caller's pipeline env."""

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Azure Pipelines variables change what commands write (provenance stamps): tests set their own.
PIPELINE_PREFIXES = ("BUILD_", "SYSTEM_", "TF_BUILD")


def run_mlrelease(
    *args: object,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = REPO,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m mlrelease ARGS` with the pipeline variables removed and `env` added."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(PIPELINE_PREFIXES)}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mlrelease", *map(str, args)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=timeout,
    )


def call_mlrelease(
    *args: object, cwd: str | os.PathLike[str], env: Mapping[str, str] | None = None
) -> tuple[int, str, str]:
    """Run `mlrelease ARGS` in this process: (exit code, stdout, stderr).

    Much faster than a subprocess, for tests that run hundreds of command lines. An
    exception escaping `main` is not caught: that is the traceback a user would have seen.
    The pipeline variables are removed, `env` added, and the working folder is `cwd`.
    """
    import contextlib
    import io
    import logging
    from unittest import mock

    from mlrelease import cli

    stdout, stderr = io.StringIO(), io.StringIO()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(PIPELINE_PREFIXES)}
    environment.update(env or {})
    root = logging.getLogger()
    previous = os.getcwd()
    # `main` configures logging once per process; let each call log to its own stderr.
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    try:
        os.chdir(cwd)
        with (
            mock.patch.dict(os.environ, environment, clear=True),
            contextlib.redirect_stdout(stdout),
            contextlib.redirect_stderr(stderr),
        ):
            try:
                code = cli.main([str(arg) for arg in args])
            except SystemExit as exit_:  # argparse: usage errors exit 2, --help exits 0
                code = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        os.chdir(previous)
        for handler in root.handlers[:]:
            root.removeHandler(handler)
    return code, stdout.getvalue(), stderr.getvalue()
