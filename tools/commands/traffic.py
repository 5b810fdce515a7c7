"""`mlrelease traffic ...`: compute the next routing values file for the routing chart.

Every command reads the current routing values (`--current`, absent on a first
deployment), applies one change, checks the result and writes `--out`; on any error
nothing is written. With `--models-uri`, a version only gets traffic (a weight above 0, an
A/B rule or the mirror) once its model is complete and verified in the store.
"""

import argparse
import copy
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlrelease import traffic, trafficdoc, yamlio
from mlrelease.errors import InputError
from mlrelease.provenance import from_environment
from mlrelease.readiness import check_ready


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
    canary.add_argument("--percent", required=True, type=_number, help="0-100.")
    canary.set_defaults(func=_edit(lambda a: traffic.canary(a.doc, a.version, a.percent)))

    promote = _add_action(actions, "promote", "Blue/green: all traffic to one version.")
    promote.add_argument("--version", required=True, help="The version to switch to.")
    promote.set_defaults(func=_edit(lambda a: traffic.promote(a.doc, a.version)))

    ab = _add_action(actions, "ab", "Route requests by header to a version, before the split.")
    ab.add_argument("--header", help="Lowercase header name, e.g. x-user-group.")
    match = ab.add_mutually_exclusive_group()
    for kind in traffic.MATCH_KINDS:
        match.add_argument(f"--{kind}", metavar="VALUE", help=f"Match the header value by {kind}.")
    ab.add_argument("--version", help="Where matching requests go.")
    ab.add_argument("--remove", action="store_true", help="Remove the rules on --header.")
    ab.add_argument("--clear", action="store_true", help="Remove every A/B rule.")
    ab.set_defaults(func=_run_ab)

    mirror = _add_action(actions, "mirror", "Mirror a share of requests to a version.")
    mirror.add_argument("--version", help="Where copies go (responses are discarded).")
    mirror.add_argument("--percent", type=_number, default=100.0, help="0-100 (100).")
    mirror.add_argument("--off", action="store_true", help="Stop mirroring.")
    mirror.set_defaults(func=_run_mirror)

    plan = _add_action(actions, "plan", "Write the documents of a canary rollout.", out=False)
    plan.add_argument("--version", required=True, help="The version being rolled out.")
    plan.add_argument(
        "--steps", required=True, type=_steps, help="Increasing percentages, e.g. 10,25,50,100."
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
    preview.add_argument("--requests", type=int, default=100, help="How many requests (100).")
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
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _steps(text: str) -> list[float]:
    return [_number(part) for part in text.split(",") if part.strip()]


def _pairs(items: list[str], flag: str, convert: Callable[[str], Any] = str) -> dict[str, Any]:
    pairs = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise InputError(f"{flag} {item!r} is not NAME=VALUE, e.g. {flag} v42=90")
        try:
            pairs[key] = convert(value)
        except ValueError:
            raise InputError(f"{flag} {item!r}: {value!r} is not a number") from None
    return pairs


def _prepare(args: argparse.Namespace) -> None:
    if args.models_uri and not args.model_name:
        raise InputError("--models-uri needs --model-name to find the version folders")
    args.original, args.doc = trafficdoc.load(args.current, args.host)


def _edit(
    change: Callable[[argparse.Namespace], traffic.Document],
) -> Callable[[argparse.Namespace], int]:
    """A command that reads --current, applies `change(args) -> document` and writes --out."""

    def run(args: argparse.Namespace) -> int:
        _prepare(args)
        return _write(args, change(args))

    return run


def _write(args: argparse.Namespace, doc: traffic.Document) -> int:
    if args.models_uri:
        check_ready(doc, args.models_uri, args.model_name)
    text = trafficdoc.render(args.original, doc, _provenance())
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


def _print_split(doc: traffic.Document) -> None:
    print(" ".join(f"{entry['name']}={entry['weight']}" for entry in doc["versions"]))


def _run_set(args: argparse.Namespace) -> int:
    _prepare(args)
    if not args.weight and not args.drop:
        raise InputError("nothing to set: give --weight VERSION=WEIGHT or --drop VERSION")
    weights = _pairs(args.weight, "--weight", float)
    if not weights:
        weights = {entry["name"]: entry["weight"] for entry in args.doc["versions"]}
        weights = {name: weight for name, weight in weights.items() if name not in args.drop}
    return _write(args, traffic.set_weights(args.doc, weights, args.drop))


def _run_ab(args: argparse.Namespace) -> int:
    _prepare(args)
    kinds = [kind for kind in traffic.MATCH_KINDS if getattr(args, kind) is not None]
    if args.clear:
        return _write(args, traffic.remove_ab_rules(args.doc))
    if not args.header:
        raise InputError("--header is required (or --clear to remove every rule)")
    if args.remove:
        return _write(args, traffic.remove_ab_rules(args.doc, args.header))
    if not kinds or not args.version:
        raise InputError("give one of --exact/--prefix/--regex VALUE and --version VERSION")
    kind = kinds[0]
    return _write(
        args, traffic.add_ab_rule(args.doc, args.header, kind, getattr(args, kind), args.version)
    )


def _run_mirror(args: argparse.Namespace) -> int:
    _prepare(args)
    if args.off == bool(args.version):
        raise InputError("give either --version VERSION [--percent P] or --off")
    return _write(
        args, traffic.set_mirror(args.doc, None if args.off else args.version, args.percent)
    )


def _run_plan(args: argparse.Namespace) -> int:
    _prepare(args)
    documents = traffic.plan(args.doc, args.version, args.steps)
    if args.models_uri:
        for doc in documents:
            check_ready(doc, args.models_uri, args.model_name)
    rendered = [
        trafficdoc.render(copy.deepcopy(args.original), doc, _provenance()) for doc in documents
    ]
    for number, (step, text) in enumerate(zip(args.steps, rendered, strict=True), start=1):
        path = args.out_dir / f"step-{number:02d}-{step:g}.yaml"
        yamlio.write_atomic(path, text)
        print(path)
    return 0


def _run_preview(args: argparse.Namespace) -> int:
    doc = trafficdoc.check(yamlio.load_path(args.file), str(args.file))
    headers = _pairs(args.header, "--header")
    result = traffic.preview(doc, args.requests, headers)
    print(format_preview(doc, result, args.requests))
    return 0


def format_preview(doc: traffic.Document, result: dict, requests: int) -> str:
    """A table with a text bar per version."""
    rule = result["matchedRule"]
    if rule:
        kind = next(k for k in traffic.MATCH_KINDS if k in rule)
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
