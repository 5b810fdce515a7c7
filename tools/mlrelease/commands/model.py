"""`mlrelease model wait|verify|show URI`: check a model version in the model store.

`wait` is the scoring pod's init container: it blocks until the version's `_COMPLETE`
marker exists and every file matches its digest, so a pod never serves a partial or
tampered model; with `--into DIR` it also copies the verified version to a pod-local
folder, once per pod, for every server worker to map. `verify` checks once; `show`
prints what the manifest records. `list` shows every version of a model with whether the
routing references it; `prune` deletes complete, unreferenced versions beyond the newest N.
Exit codes: 0 verified, 1 not ready / corrupt / timed out / storage failure, 2 bad input.
"""

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from mlrelease.errors import InputError
from mlrelease.store import artifact


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `model` command and its subcommands."""
    parser = subparsers.add_parser(
        "model",
        help="Wait for, verify or describe a model version in the model store.",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    uri_help = (
        "The version folder, e.g. az://models/recommender/v20261127-3-4b46ac11 or a local path. "
        "Azure credentials come from AZURE_STORAGE_CONNECTION_STRING or "
        "AZURE_STORAGE_ACCOUNT_URL."
    )

    wait = actions.add_parser(
        "wait",
        help="Block until the version is complete and verified.",
        description=(
            "Poll the version folder with exponential backoff until _COMPLETE exists and "
            "every file matches the sha256 in manifest.json. Exits 1 on timeout, and at "
            "once if a complete version fails its digests."
        ),
    )
    _add_location(wait, uri_help)
    wait.add_argument(
        "--into",
        metavar="DIR",
        help=(
            "Also copy the verified version into this local folder, e.g. the pod's model "
            "volume, so the server maps it from there and never reads the store. Each file "
            "is verified as it is copied and DIR appears only once all of them matched. DIR "
            "must be missing or empty, or already hold a verified copy of this version."
        ),
    )
    wait.add_argument(
        "--timeout",
        type=_seconds,
        default=600.0,
        metavar="SECONDS",
        help="Give up after this many seconds (600).",
    )
    wait.add_argument(
        "--initial-delay",
        type=_positive_seconds,
        default=1.0,
        metavar="SECONDS",
        help="First pause between attempts (1); it doubles each time.",
    )
    wait.add_argument(
        "--max-delay",
        type=_positive_seconds,
        default=30.0,
        metavar="SECONDS",
        help="Longest pause between attempts (30).",
    )
    wait.set_defaults(func=_wait)

    verify = actions.add_parser(
        "verify",
        help="Check once that the version is complete and intact.",
        description="Check _COMPLETE, manifest.json and the sha256 and size of every file.",
    )
    _add_location(verify, uri_help)
    verify.set_defaults(func=_verify)

    show = actions.add_parser(
        "show",
        help="Verify the version and describe it.",
        description=(
            "Verify the version, then print its manifest as a readable summary: build, "
            "commit, data, metrics, hyperparameters and library versions."
        ),
    )
    _add_location(show, uri_help)
    show.add_argument("--json", action="store_true", help="Print manifest.json itself.")
    show.set_defaults(func=_show)

    store_help = "Model store root, e.g. az://models or a local path."
    listing = actions.add_parser(
        "list",
        help="List every version of a model: build, date, metrics, routing.",
        description=(
            "List every version folder of a model, oldest first: its status (complete, "
            "incomplete, corrupt), build number, creation date, metrics and, with --routing, "
            "how the routing references it."
        ),
    )
    listing.add_argument("--models-uri", required=True, help=store_help)
    listing.add_argument("--model-name", required=True, help="The model's folder name.")
    listing.add_argument("--routing", type=Path, help="The routing values in force.")
    listing.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
    listing.set_defaults(func=_list)

    prune = actions.add_parser(
        "prune",
        help="Delete complete, unreferenced versions beyond the newest N.",
        description=(
            "Delete the versions that are complete, not referenced by the routing at any "
            "weight, and older than the newest --keep complete versions. Incomplete versions "
            "(maybe a publish in progress) always stay. Refuses when the routing names a "
            "version the store does not hold: the routing and the store do not belong "
            "together, so nothing about references can be trusted."
        ),
    )
    prune.add_argument("--models-uri", required=True, help=store_help)
    prune.add_argument("--model-name", required=True, help="The model's folder name.")
    prune.add_argument("--routing", required=True, type=Path, help="The routing values in force.")
    prune.add_argument(
        "--keep", required=True, type=int, help="How many of the newest versions stay (>= 1)."
    )
    prune.add_argument(
        "--dry-run", action="store_true", help="Say what would be deleted; delete nothing."
    )
    prune.set_defaults(func=_prune)


def _add_location(parser: argparse.ArgumentParser, uri_help: str) -> None:
    """The version folder as a URI, or as its parts (the form pipelines use)."""
    parser.add_argument("uri", metavar="URI", nargs="?", help=uri_help)
    parts = parser.add_argument_group(
        "or the folder's parts",
        "The store root, model name and version id; the folder is "
        "<models-uri>/<model-name>/<version>, as the training Job publishes it.",
    )
    parts.add_argument("--models-uri", help="Model store root, e.g. az://models.")
    parts.add_argument("--model-name", help="Model name, e.g. recommender.")
    parts.add_argument(
        "--version", dest="version_id", help="Version id, e.g. v20261127-3-4b46ac11."
    )


def _locate(args: argparse.Namespace) -> None:
    parts = (args.models_uri, args.model_name, args.version_id)
    if args.uri and any(parts):
        raise InputError(
            "give the version folder as URI or as --models-uri/--model-name/--version, not both"
        )
    if args.uri:
        return
    if not all(parts):
        raise InputError(
            "give the version folder: URI, or all of --models-uri, --model-name and --version"
        )
    args.uri = artifact.version_uri(*parts)


def _wait(args: argparse.Namespace) -> int:
    if args.initial_delay > args.max_delay:
        raise InputError(
            f"--initial-delay {args.initial_delay:g} is longer than --max-delay "
            f"{args.max_delay:g}; lower it or raise --max-delay"
        )
    _locate(args)
    manifest = artifact.wait(
        args.uri, args.timeout, args.initial_delay, args.max_delay, into=args.into
    )
    copied = f", copied to {args.into}" if args.into else ""
    print(f"{args.uri}: ready, {len(manifest['files'])} files verified{copied}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    _locate(args)
    manifest = artifact.verify(args.uri)
    print(f"{args.uri}: ok, {len(manifest['files'])} files verified")
    return 0


def _show(args: argparse.Namespace) -> int:
    _locate(args)
    manifest = artifact.verify(args.uri)
    if args.json:
        print(json.dumps(manifest, indent=2, sort_keys=True))
    else:
        print(summary(args.uri, manifest), end="")
    return 0


def _references(path: Path | None) -> dict[str, str]:
    """{version: how the routing at `path` uses it}: a weight, an A/B rule, the mirror."""
    if path is None:
        return {}
    from mlrelease.traffic import document
    from mlrelease.values import yamlio

    routing = document.check(yamlio.load_path(path), str(path))
    uses = {entry["name"]: [f"weight {entry['weight']}"] for entry in routing["versions"]}
    for rule in routing["abRules"]:
        uses[rule["version"]].append(f"A/B {rule['header']}")
    if routing.get("mirror"):
        uses[routing["mirror"]["version"]].append("mirror")
    return {name: ", ".join(parts) for name, parts in uses.items()}


def _list(args: argparse.Namespace) -> int:
    from mlrelease.store import catalog

    references = _references(args.routing)
    versions = catalog.list_versions(catalog.model_store(args.models_uri, args.model_name))
    if args.json:
        rows = [
            {**info.to_dict(), "routing": references.get(info.version, "")} for info in versions
        ]
        print(json.dumps(rows, indent=2))
        return 0
    table = [("version", "status", "build", "created", "metrics", "routing")]
    for info in versions:
        routing = references.get(info.version, "-" if args.routing else "")
        table.append(
            (info.version, info.status, info.build_number, info.created_at[:19],
             _metrics(info.metrics).replace("  ", " "), routing)
        )  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    if not versions:
        print(f"no versions of {args.model_name} under {args.models_uri}", file=sys.stderr)
    return 0


def _prune(args: argparse.Namespace) -> int:
    from mlrelease.store import catalog

    references = _references(args.routing)
    store = catalog.model_store(args.models_uri, args.model_name)
    versions = catalog.list_versions(store)
    missing = sorted(set(references) - {info.version for info in versions})
    if missing:
        raise InputError(
            f"{args.routing} routes to {', '.join(missing)}, which {store.uri} does not hold; "
            "refusing to prune: check --models-uri, --model-name and --routing belong together"
        )
    delete, kept = catalog.prune_plan(versions, references, args.keep)
    for version, reason in kept.items():
        print(f"keep    {version}: {reason}", file=sys.stderr)
    for info in delete:
        if args.dry_run:
            print(f"would delete {info.version}")
            continue
        count = catalog.delete_version(store, info.version)
        print(f"deleted {info.version}")
        print(f"deleted {store.uri}/{info.version} ({count} files)", file=sys.stderr)
    return 0


def summary(uri: str, manifest: dict[str, Any]) -> str:
    """A readable description of a verified manifest (missing facts are left out)."""
    provenance = manifest.get("provenance") or {}
    data = manifest.get("data") or {}
    metrics = manifest.get("metrics") or {}
    files = manifest.get("files") or {}
    rows: list[tuple[str, str]] = [
        ("Model", f"{manifest.get('modelName', '?')} {manifest.get('versionId', '?')}"),
        ("Location", uri),
        ("Status", "complete, every file matches its sha256"),
        ("Build", _join(manifest.get("buildNumber"), provenance.get("buildUrl"))),
        ("Commit", _source(provenance)),
        ("Requested by", _join(provenance.get("requestedFor"), provenance.get("reason"))),
        ("Created", manifest.get("createdAt")),
        ("Data", _data(data)),
    ]
    rows += [
        (
            "",
            f"  {item.get('path')}  {_size(item.get('size'))}  sha256 "
            f"{str(item.get('sha256', ''))[:12]}",
        )
        for item in data.get("files") or []
    ]
    rows += [
        ("Metrics", _metrics(metrics)),
        ("Hyperparameters", _pairs(manifest.get("hyperparameters"))),
        ("Libraries", _pairs(manifest.get("libraries"))),
        ("Files", f"{len(files)} files, {_size(_total(files))}"),
    ]
    rows += [("", f"  {name}  {_size(entry.get('size'))}") for name, entry in sorted(files.items())]
    width = max(len(label) for label, _ in rows)
    return "".join(
        f"{label:<{width}}  {value}".rstrip() + "\n" for label, value in rows if value or not label
    )


def _source(provenance: dict[str, Any]) -> str:
    text = str(provenance.get("commit") or "")
    if provenance.get("branch"):
        text += f" on {provenance['branch']}"
    if provenance.get("pullRequest"):
        text += f" (pull request {provenance['pullRequest']})"
    return text.strip()


def _data(data: dict[str, Any]) -> str:
    counts = ", ".join(
        f"{data[key]} {key}" for key in ("rows", "users", "items") if data.get(key) is not None
    )
    text = str(data.get("uri") or "")
    if data.get("files"):
        text += f" ({len(data['files'])} files{', ' + counts if counts else ''})"
    elif counts:
        text += f" ({counts})"
    return text.strip()


def _metrics(metrics: dict[str, Any]) -> str:
    k = metrics.get("k", "k")
    named = {
        f"precision@{k}": metrics.get("precisionAtK"),
        f"recall@{k}": metrics.get("recallAtK"),
        "AUC": metrics.get("auc"),
        "train seconds": metrics.get("trainSeconds"),
        "held-out users": metrics.get("testUsers"),
        "min held-out users": metrics.get("minTestUsers"),
    }
    return "  ".join(
        f"{name} {_number(value)}" for name, value in named.items() if value is not None
    )


def _pairs(values: Any) -> str:
    if not isinstance(values, dict):
        return ""
    return "  ".join(f"{key}={_number(value)}" for key, value in sorted(values.items()))


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _join(*parts: Any) -> str:
    return "  ".join(str(part) for part in parts if part)


def _total(files: dict[str, Any]) -> int:
    return sum(int(entry.get("size", 0)) for entry in files.values())


def _size(size: Any) -> str:
    if not isinstance(size, int):
        return "?"
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds >= 0")
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 seconds")
    return value
