"""`mlrelease demo`: rehearse the whole release flow on this machine, from the real charts."""

import argparse
import json
import os
import signal
import sys
import tempfile
from datetime import date
from pathlib import Path

from mlrelease.errors import InputError
from mlrelease.values import yamlio


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `demo` command."""
    parser = subparsers.add_parser(
        "demo",
        help="Rehearse build, train, serve and traffic split locally.",
        description=(
            "Rehearse the release flow the pipelines run, with no cluster and no cloud "
            "account: export sample interaction data, then for two builds write values with "
            "`mlrelease values`, render the training and scoring charts on the Helm engine and "
            "run the processes their manifests describe; then canary the second build at 10% "
            "with an A/B header rule, send real requests the way the rendered VirtualService "
            "routes them, promote, and print a release summary in Markdown."
        ),
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="Folder for data, models, values and logs (default: a new temporary folder).",
    )
    parser.add_argument(
        "--repo",
        type=Path,
        default=Path.cwd(),
        help="Checkout holding charts/ (default: the current folder).",
    )
    parser.add_argument(
        "--requests", type=int, default=1000, help="Requests sent per traffic split (1000)."
    )
    parser.add_argument(
        "--store",
        choices=("local", "azurite"),
        default="local",
        help=(
            "Model store: a local folder (default) or Azure Blob Storage emulated by Azurite "
            "on 127.0.0.1, with the connection string passed to the Job and pods as a Secret."
        ),
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from mlrelease.rehearsal.flow import Rehearsal
    from mlrelease.rehearsal.summary import render_summary

    if not (args.repo / "charts" / "routing" / "Chart.yaml").exists():
        raise InputError(f"{args.repo} holds no charts/; run from the checkout or pass --repo")
    if args.requests < 20:
        raise InputError(
            f"--requests {args.requests} is too few to observe a split; use 100 or more"
        )
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mlrelease-demo-"))
    if workdir.exists() and any(workdir.iterdir()):
        raise InputError(
            f"{workdir} is not empty; give a new --workdir (model folders are write-once)"
        )
    # SIGTERM (e.g. from CI) unwinds like Ctrl-C, so every started process is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    today = date.today().strftime("%Y%m%d")
    rehearsal = Rehearsal(args.repo.resolve(), workdir.resolve(), _say, args.requests, args.store)
    _say(f"rehearsal in {workdir}")
    builds = rehearsal.run((f"{today}.1", f"{today}.2"))
    summary = render_summary(builds, rehearsal.observations)
    summary_path = workdir / "release-summary.md"
    yamlio.write_atomic(summary_path, summary)
    observations = [step.to_dict() for step in rehearsal.observations]
    yamlio.write_atomic(workdir / "observations.json", json.dumps(observations, indent=2) + "\n")
    print("\n" + summary)
    if os.environ.get("TF_BUILD"):
        print(f"##vso[task.uploadsummary]{summary_path}")
    _say(f"release summary written to {summary_path}; every process started was stopped")
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _say(line: str) -> None:
    """Progress goes to stderr, so stdout carries only the release summary."""
    print(line, file=sys.stderr, flush=True)
