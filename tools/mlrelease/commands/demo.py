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

# Load against this machine's own servers stays bounded in count and time.
MAX_REQUESTS = 100_000


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `demo` command."""
    parser = subparsers.add_parser(
        "demo",
        help="Rehearse build, train, serve and traffic split locally.",
        description=(
            "Rehearse the release flow the pipelines run, with no cluster and no cloud "
            "account: export sample interaction data, then for three builds write values with "
            "`mlrelease values`, render the training and scoring charts on the Helm engine and "
            "run the processes their manifests describe. Requests go through a stand-in for "
            "Istio that routes them as the rendered VirtualService says and exports Istio's "
            "standard metrics; a real Prometheus scrapes it and the scoring servers. The second "
            "build is canaried at 10% with an A/B header rule, checked by `mlrelease compare` "
            "(the chart's helm test) and `mlrelease analyze`, and promoted; the third, whose "
            "model passed the offline gate but was trained with a learning rate far too high, "
            "fails both and its routing is restored. Old versions are retired, and a release "
            "summary is printed in Markdown."
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
    from mlrelease.rehearsal.flow import Rehearsal, rehearsal_builds
    from mlrelease.rehearsal.summary import render_summary
    from mlrelease.summary.picture import draw_release
    from mlrelease.summary.release import PICTURE_FILE, SUMMARY_FILE

    if not (args.repo / "charts" / "routing" / "Chart.yaml").exists():
        raise InputError(f"{args.repo} holds no charts/; run from the checkout or pass --repo")
    if args.requests < 20:
        raise InputError(
            f"--requests {args.requests} is too few to observe a split; use 100 or more"
        )
    if args.requests > MAX_REQUESTS:
        raise InputError(
            f"--requests {args.requests} is more than this rehearsal sends to local servers "
            f"(at most {MAX_REQUESTS}); the split is visible with 1000"
        )
    if args.workdir is not None:
        yamlio.check_output_folder(args.workdir, "--workdir")
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
    builds = rehearsal.run(rehearsal_builds(today))
    summary = render_summary(builds, rehearsal)
    summary_path = workdir / SUMMARY_FILE
    yamlio.write_atomic(summary_path, summary)
    observations = [step.to_dict() for step in rehearsal.observations]
    yamlio.write_atomic(workdir / "observations.json", json.dumps(observations, indent=2) + "\n")
    picture = draw_release(observations, workdir / PICTURE_FILE)
    _say(f"picture {picture}")
    rollouts = {
        "rollouts": [rollout.to_dict() for rollout in rehearsal.rollouts],
        "retired": rehearsal.retired,
        "pruned": rehearsal.pruned,
    }
    yamlio.write_atomic(workdir / "rollouts.json", json.dumps(rollouts, indent=2) + "\n")
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
