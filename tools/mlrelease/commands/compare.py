"""`mlrelease compare`: send the same real user ids to the candidate and the baseline and
report how far apart their answers are; with a threshold, a gate.

Both versions are reached through their own Services (`http://scoring-<version id>`), so
the traffic split has no say in who answers. The report gives overlap@k and a rank
correlation of the two top-k lists, and per version the popularity fallback rate and the
latency. In the cluster the scoring chart runs this as its `helm test` against the live
baseline (value `compare.baseline`), so the pipeline's `helm test` step is the gate.

Exit codes: 0 agreement within the thresholds (or none given), 1 below a threshold, a
failed request or a version that does not answer, 2 bad input.
"""

import argparse
import json
import random
import sys
from pathlib import Path

from mlrelease.analysis import compare
from mlrelease.errors import InputError
from mlrelease.values import yamlio


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `compare` command."""
    parser = subparsers.add_parser(
        "compare",
        help="Compare what the candidate and the baseline recommend to the same users.",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--candidate-url", required=True, help="The candidate's Service, e.g. http://scoring-v42"
    )
    parser.add_argument("--baseline-url", required=True, help="The baseline's Service.")
    users = parser.add_argument_group("users (one source)")
    source = users.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--users-from",
        metavar="MODEL_URI",
        help="A model version folder (the baseline's): sample its user_ids.json.",
    )
    source.add_argument("--users-file", type=Path, help="A file of user ids, one per line.")
    source.add_argument("--user", action="append", metavar="ID", help="One user id. Repeat.")
    parser.add_argument(
        "--sample", type=int, default=200, help="How many users to send, at most (200)."
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the user sample (0).")
    parser.add_argument("--k", type=int, default=10, help="List length compared (10).")
    parser.add_argument(
        "--min-overlap", type=float, help="Gate: fail below this mean overlap@k (0-1)."
    )
    parser.add_argument(
        "--min-rank-correlation", type=float, help="Gate: fail below this mean rank correlation."
    )
    parser.add_argument(
        "--max-fallback-increase",
        type=float,
        help="Gate: fail when the candidate's fallback rate exceeds the baseline's by more.",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="Seconds per request (10).")
    parser.add_argument("--markdown", type=Path, help="Also write the report as Markdown here.")
    parser.add_argument("--json", type=Path, help="Also write the report as JSON here.")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.sample < 1:
        raise InputError(f"--sample {args.sample} must be at least 1")
    # Checked before any request: a bad report path must not cost the comparison.
    for flag, output in (("--markdown", args.markdown), ("--json", args.json)):
        if output is not None:
            yamlio.check_output_file(output, flag)
    thresholds = {
        key: value
        for key, value in (
            ("minOverlap", args.min_overlap),
            ("minRankCorrelation", args.min_rank_correlation),
            ("maxFallbackIncrease", args.max_fallback_increase),
        )
        if value is not None
    }
    users = sample_users(args)
    result = compare.compare(
        args.candidate_url, args.baseline_url, users, args.k, thresholds, timeout=args.timeout
    )
    print(compare.table(result), end="")
    if args.markdown:
        yamlio.write_atomic(args.markdown, compare.markdown(result))
    if args.json:
        yamlio.write_atomic(args.json, json.dumps(result.to_dict(), indent=2) + "\n")
    return 0 if result.passed else 1


def sample_users(args: argparse.Namespace) -> list[str]:
    """Up to --sample user ids from the chosen source, the same ones for the same seed."""
    if args.user:
        users = list(args.user)
    elif args.users_file:
        try:
            text = args.users_file.read_text(encoding="utf-8")
        except OSError as error:
            raise InputError(f"cannot read {args.users_file}: {error.strerror}") from None
        users = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        from mlrelease.store import open_store

        data = open_store(args.users_from).read_bytes("user_ids.json")
        try:
            users = [str(user) for user in json.loads(data)]
        except (ValueError, TypeError):
            raise InputError(f"{args.users_from}/user_ids.json is not a JSON list") from None
    if len(users) > args.sample:
        users = random.Random(args.seed).sample(users, args.sample)
    print(f"comparing on {len(users)} users", file=sys.stderr)
    return users
