"""`mlrelease traffic ...`: compute the next routing values file for the routing chart.

Every command reads the current routing values (`--current`, absent on a first
deployment), applies one change, checks the result and writes `--out`; on any error
nothing is written. With `--models-uri`, a version only gets traffic (a weight above 0, an
A/B rule or the mirror) once its model is complete and verified in the store.
"""

import argparse
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlrelease.errors import InputError
from mlrelease.provenance import from_environment
from mlrelease.traffic import document, operations
from mlrelease.traffic.readiness import check_ready
from mlrelease.values import yamlio


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `traffic` command group."""
    parser = subparsers.add_parser(
        "traffic",
        help="Split, switch, A/B-route and mirror traffic between model versions.",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="traffic_command", metavar="ACTION", required=True)

    set_parser = _add_action(actions, "set", "Set the weights of named versions.")
    set_parser.add_argument(
        "--weight",
        action="append",
        default=[],
        metavar="VERSION=WEIGHT",
        help="A version and a non-negative weight; weights are scaled to sum to 100. Repeat.",
    )
    set_parser.add_argument(
        "--drop", action="append", default=[], metavar="VERSION", help="Remove a version."
    )
    set_parser.set_defaults(func=_run_set)

    canary = _add_action(actions, "canary", "Send a percentage to one version.")
    canary.add_argument("--version", required=True, help="The canary version id.")
    canary.add_argument("--percent", required=True, type=_number, help="A whole number, 0-100.")
    canary.set_defaults(func=_edit(lambda a: operations.canary(a.doc, a.version, a.percent)))

    promote = _add_action(actions, "promote", "Blue/green: all traffic to one version.")
    promote.add_argument("--version", required=True, help="The version to switch to.")
    promote.set_defaults(func=_edit(lambda a: operations.promote(a.doc, a.version)))

    ab = actions.add_parser(
        "ab",
        help="Route requests by header to a version, before the split.",
        description="Header routes (A/B rules) are tried in order before the weighted split.",
    )
    ab_actions = ab.add_subparsers(dest="ab_command", metavar="ACTION", required=True)
    add = _add_action(ab_actions, "add", "Add a rule: requests whose header matches go to VERSION.")
    add.add_argument("--header", required=True, help="Lowercase header name, e.g. x-user-group.")
    match = add.add_mutually_exclusive_group(required=True)
    for kind in operations.MATCH_KINDS:
        match.add_argument(f"--{kind}", metavar="VALUE", help=f"Match the header value by {kind}.")
    add.add_argument("--version", required=True, help="Where matching requests go.")
    add.set_defaults(func=_edit(_add_ab_rule))
    remove = _add_action(ab_actions, "remove", "Remove the rules on one header.")
    remove.add_argument("--header", required=True, help="The header whose rules go.")
    remove.set_defaults(func=_edit(lambda a: operations.remove_ab_rules(a.doc, a.header)))
    clear = _add_action(ab_actions, "clear", "Remove every A/B rule.")
    clear.set_defaults(func=_edit(lambda a: operations.remove_ab_rules(a.doc)))

    mirror = _add_action(actions, "mirror", "Mirror a share of requests to a version.")
    target = mirror.add_mutually_exclusive_group(required=True)
    target.add_argument("--version", help="Where copies go (responses are discarded).")
    target.add_argument("--off", action="store_true", help="Stop mirroring.")
    mirror.add_argument(
        "--percent", type=_number, default=100.0, help="0-100, fractions allowed (100)."
    )
    mirror.set_defaults(func=_edit(lambda a: operations.set_mirror(a.doc, a.version, a.percent)))

    retire = _add_action(actions, "retire", "Drop old versions at weight 0 from the routing.")
    retire.description = (
        "Drop the versions at weight 0 beyond the newest N (in the order they entered the "
        "routing). A version with weight above 0, an A/B rule or the mirror always stays. "
        "The dropped version ids are printed, one per line, after the new split, and written "
        "to --retired-list so a pipeline can uninstall their scoring releases."
    )
    retire.add_argument(
        "--keep", required=True, type=_count, help="How many of the newest versions to keep."
    )
    retire.add_argument(
        "--retired-list", type=Path, help="Write the dropped version ids here, one per line."
    )
    retire.set_defaults(func=_run_retire)

    base = actions.add_parser(
        "baseline",
        help="Print the version a rollout is judged against.",
        description=(
            "Print the baseline of a rollout: the version with the largest weight in the "
            "routing in force, other than the candidate (for `compare.baseline` and "
            "`mlrelease analyze --baseline`)."
        ),
    )
    base.add_argument("--current", required=True, type=Path, help="The routing values in force.")
    base.add_argument("--candidate", required=True, help="The version being rolled out.")
    base.set_defaults(func=_run_baseline)

    plan = _add_action(actions, "plan", "Write the documents of a canary rollout.", out=False)
    plan.add_argument("--version", required=True, help="The version being rolled out.")
    plan.add_argument(
        "--steps",
        required=True,
        type=_steps,
        help="Increasing whole percentages, e.g. 10,25,50,100.",
    )
    plan.add_argument(
        "--out-dir", required=True, type=Path, help="Folder for step-NN-PCT.yaml files."
    )
    plan.set_defaults(func=_run_plan)

    preview = actions.add_parser(
        "preview",
        help="Show the share of requests each version would get.",
        description=(
            "Show where requests would go under a routing values file, following Istio: "
            "A/B rules first (first match wins), then the weighted split."
        ),
    )
    preview.add_argument("file", type=Path, metavar="FILE", help="A routing values file.")
    preview.add_argument(
        "--requests", type=_count, default=100, help="How many requests (100, at most 1e9)."
    )
    preview.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="A header the requests carry. Repeat.",
    )
    preview.set_defaults(func=_run_preview)


def _add_action(
    actions: argparse._SubParsersAction, name: str, summary: str, *, out: bool = True
) -> argparse.ArgumentParser:
    parser = actions.add_parser(name, help=summary, description=summary)
    parser.add_argument(
        "--current", type=Path, help="The routing values in force (omit on a first deployment)."
    )
    if out:
        parser.add_argument("--out", required=True, type=Path, help="Where to write the result.")
    parser.add_argument("--host", help="Service host name for a first deployment (scoring).")
    parser.add_argument(
        "--models-uri",
        help="Model store root: refuse traffic to a version whose model is not verified there.",
    )
    parser.add_argument(
        "--model-name", help="Model name under --models-uri (required with --models-uri)."
    )
    return parser


def _number(text: str) -> float:
    """A finite number: `inf` and `nan` parse as floats but mean nothing as a share."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _count(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return value


def _steps(text: str) -> list[float]:
    return [_number(part) for part in text.split(",") if part.strip()]


def _weight(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InputError(f"--weight {text!r} is not a finite number; weights are shares")
    return value


def _pairs(items: list[str], flag: str, convert: Callable[[str], Any] = str) -> dict[str, Any]:
    """NAME=VALUE flags as a dict; a NAME given twice is refused (which one was meant?)."""
    pairs = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key:
            example = "v20261127-3-4b46ac11=90" if flag == "--weight" else "x-user-group=beta"
            raise InputError(f"{flag} {item!r} is not NAME=VALUE, e.g. {flag} {example}")
        if key in pairs:
            raise InputError(f"{flag} {key}=... is given more than once; give each name once")
        try:
            pairs[key] = convert(value)
        except ValueError:
            raise InputError(f"{flag} {item!r}: {value!r} is not a number") from None
    return pairs


def _prepare(args: argparse.Namespace) -> None:
    """Check the flags and outputs, and read --current, before anything is computed."""
    if args.models_uri and not args.model_name:
        raise InputError("--models-uri needs --model-name to find the version folders")
    if getattr(args, "out", None) is not None:
        yamlio.check_output_file(args.out, "--out")
    args.original, args.doc = document.load(args.current, args.host)


def _edit(
    change: Callable[[argparse.Namespace], operations.Document],
) -> Callable[[argparse.Namespace], int]:
    """A command that reads --current, applies `change(args) -> document` and writes --out."""

    def run(args: argparse.Namespace) -> int:
        _prepare(args)
        return _write(args, change(args))

    return run


def _write(args: argparse.Namespace, doc: operations.Document) -> int:
    if args.models_uri:
        check_ready(doc, args.models_uri, args.model_name)
    text = document.render(args.original, doc, _provenance())
    yamlio.write_atomic(args.out, text)
    _print_split(doc)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _provenance() -> dict | None:
    """In a pipeline run, stamp the routing release with the run that changed it."""
    provenance = from_environment(os.environ)
    if not provenance.build_number:
        return None
    return {"labels": provenance.labels(), "annotations": provenance.annotations()}


def _print_split(doc: operations.Document) -> None:
    print(" ".join(f"{entry['name']}={entry['weight']}" for entry in doc["versions"]))


def _run_set(args: argparse.Namespace) -> int:
    _prepare(args)
    if not args.weight and not args.drop:
        raise InputError("nothing to set: give --weight VERSION=WEIGHT or --drop VERSION")
    weights = _pairs(args.weight, "--weight", _weight)
    if not weights:
        weights = {entry["name"]: entry["weight"] for entry in args.doc["versions"]}
        weights = {name: weight for name, weight in weights.items() if name not in args.drop}
    return _write(args, operations.set_weights(args.doc, weights, args.drop))


def _run_baseline(args: argparse.Namespace) -> int:
    doc = document.check(yamlio.load_path(args.current), str(args.current))
    print(operations.baseline(doc, args.candidate))
    return 0


def _run_retire(args: argparse.Namespace) -> int:
    _prepare(args)
    if args.current is None:
        raise InputError("retire needs --current: the routing values in force")
    doc, dropped = operations.retire(args.doc, args.keep)
    _write(args, doc)
    if args.retired_list:
        yamlio.write_atomic(args.retired_list, "".join(f"{name}\n" for name in dropped))
    for name in dropped:
        print(f"retired {name}")
    if not dropped:
        print(
            f"nothing to retire: every version is in use or among the newest {args.keep}",
            file=sys.stderr,
        )
    return 0


def _add_ab_rule(args: argparse.Namespace) -> operations.Document:
    kind = next(kind for kind in operations.MATCH_KINDS if getattr(args, kind) is not None)
    return operations.add_ab_rule(args.doc, args.header, kind, getattr(args, kind), args.version)


def _run_plan(args: argparse.Namespace) -> int:
    yamlio.check_output_folder(args.out_dir, "--out-dir")
    _prepare(args)
    documents = operations.plan(args.doc, args.version, args.steps)
    if args.models_uri:
        for doc in documents:
            check_ready(doc, args.models_uri, args.model_name)
    rendered = [document.render(args.original, doc, _provenance()) for doc in documents]
    paths = [
        args.out_dir / f"step-{number:02d}-{step:g}.yaml"
        for number, step in enumerate(args.steps, start=1)
    ]
    for path in paths:
        yamlio.check_output_file(path, "--out-dir")
    for path, text in zip(paths, rendered, strict=True):
        yamlio.write_atomic(path, text)
        print(path)
    return 0


def _run_preview(args: argparse.Namespace) -> int:
    doc = document.check(yamlio.load_path(args.file), str(args.file))
    headers = _pairs(args.header, "--header")
    result = operations.preview(doc, args.requests, headers)
    print(format_preview(doc, result, args.requests))
    return 0


def format_preview(doc: operations.Document, result: dict, requests: int) -> str:
    """A table with a text bar per version."""
    rule = result["matchedRule"]
    if rule:
        kind = next(k for k in operations.MATCH_KINDS if k in rule)
        heading = f"A/B rule {rule['header']} {kind} {rule[kind]!r} -> {rule['version']}"
    else:
        heading = "weighted split (no A/B rule matched)"
    width = max([len("version"), *(len(name) for name in result["counts"])])
    lines = [f"{requests} requests to {doc['host']}: {heading}", ""]
    lines.append(f"{'version':<{width}}  weight  requests  share")
    for entry in doc["versions"]:
        count = result["counts"][entry["name"]]
        share = count / requests
        bar = "#" * round(share * 40)
        lines.append(
            f"{entry['name']:<{width}}  {entry['weight']:>6}  {count:>8}  {share:>6.1%} {bar}"
        )
    if result["mirrored"]:
        version, count = result["mirrored"]
        lines.append(f"\nmirrored to {version}: {count} copies (responses discarded)")
    return "\n".join(lines)
