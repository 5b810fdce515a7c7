"""`mlrelease summary`: the release summary of one deployment job, as Markdown with a picture.

Reads the record the job's steps leave in its routing folder (the canary plan, when each
step's split took effect, each step's `mlrelease analyze --json` report, the routing saved
before) and writes `release-summary.md` and `release-traffic.png` (each version's configured
and observed share of requests, step by step, with the analysis verdicts) into `--out-dir`.
The pipeline runs it pass or fail, then publishes the folder; in Azure Pipelines the
Markdown is also attached to the run's summary page.

Exit codes: 0 written; 2 a bad flag or an unreadable record file; 1 no plotting library
(install `mlrelease[summary]`).
"""

import argparse
import os
from pathlib import Path

from mlrelease.errors import MlreleaseError
from mlrelease.summary import release as releases
from mlrelease.values import yamlio
from mlrelease.versions import check_version_id


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `summary` command."""
    parser = subparsers.add_parser(
        "summary",
        help="Write a deployment job's release summary and its traffic picture.",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--record",
        required=True,
        type=Path,
        help="The job's routing folder: plan/, applied-P.txt, analysis-P.json, "
        "previous-routing.yaml.",
    )
    parser.add_argument("--version", required=True, help="The version id being released.")
    parser.add_argument(
        "--job-status",
        default="Succeeded",
        help="Agent.JobStatus when the summary is written: Succeeded (default), "
        "SucceededWithIssues, Failed or Canceled.",
    )
    parser.add_argument(
        "--out-dir", required=True, type=Path, help="Folder for the Markdown and the picture."
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    version = check_version_id(args.version)
    yamlio.check_output_folder(args.out_dir, "--out-dir")
    release = releases.read_record(args.record, version, args.job_status)
    steps = [step.observation() for step in release.applied_steps()]
    picture = None
    if steps:
        try:
            from mlrelease.summary.picture import draw_release
        except ImportError as error:
            raise MlreleaseError(
                f"cannot draw the release picture ({error}); install mlrelease[summary]"
            ) from None
        draw_release(steps, args.out_dir / releases.PICTURE_FILE)
        picture = releases.PICTURE_FILE
    summary = args.out_dir / releases.SUMMARY_FILE
    yamlio.write_atomic(summary, releases.markdown(release, picture))
    print(summary)
    if os.environ.get("TF_BUILD"):
        # Azure Pipelines attaches the Markdown to the run's summary page, pass or fail.
        print(f"##vso[task.uploadsummary]{summary.resolve()}")
    return 0
