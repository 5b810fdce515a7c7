"""Traffic splits over the routing document: pure operations on plain data.

The routing document is what `charts/routing` renders into Istio objects:

    host: scoring
    versions: [{name: <version id>, weight: <int>}]   # every live version, weight-0 ones too
    abRules: [{header: <name>, exact|prefix|regex: <str>, version: <version id>}]
    mirror: {version: <version id>, percent: <0..100>}

Weights are integers that sum to exactly 100: any non-negative numbers are normalised by
the largest-remainder method, ties going to the version listed first, so the same input
always gives the same split. A version at weight 0 stays a warm subset until dropped.
Each operation returns a new document and never changes its input.

Everything Istio or Envoy would reject later is refused here, with the fix: header regexes
are checked by RE2 itself (Envoy's regex engine; Python's `re` accepts lookarounds and
backreferences that RE2 does not), canary percentages must be whole (a weight is an
integer, so 12.5 could only be rounded), and removing something that is not there is an
error rather than a silent no-op, since it usually means a typo in a version or header.
"""

import copy
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import re2

from mlrelease.errors import InputError
from mlrelease.traffic.schema import HEADER_NAME, MATCH_KINDS
from mlrelease.versions import check_version_id

DEFAULT_HOST = "scoring"

Document = dict[str, Any]

# The routing chart names the shared Service after the host, so it is a DNS-1035 label.
_HOST = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
MAX_HOST_LENGTH = 63
# Preview counts are apportioned in floating point; beyond this they lose precision.
MAX_PREVIEW_REQUESTS = 10**9


def new_document(host: str = DEFAULT_HOST) -> Document:
    """An empty routing document for a first deployment."""
    return {"host": check_host(host), "versions": [], "abRules": []}


def check_host(host: str) -> str:
    """The shared Service's name: a DNS-1035 label, as the routing chart's schema demands."""
    if not (isinstance(host, str) and len(host) <= MAX_HOST_LENGTH and _HOST.fullmatch(host)):
        raise InputError(
            f"host {host!r} is not a DNS-1035 label (the name of the shared Service): use "
            f"lowercase letters, digits and '-', starting with a letter, at most "
            f"{MAX_HOST_LENGTH} characters, e.g. --host scoring"
        )
    return host


def _re2_options() -> re2.Options:
    options = re2.Options()
    # RE2 would also log every parse error to stderr; the InputError says it once.
    options.log_errors = False
    return options


_RE2_OPTIONS = _re2_options()


def compile_regex(pattern: str) -> re2._Regexp:
    """Compile a header regex with RE2 (Envoy's engine), or raise InputError with RE2's reason."""
    if not pattern:
        raise InputError("the regex is empty; give a pattern such as 'beta|canary'")
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as error:
        reason = error.args[0] if error.args else ""
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise InputError(
            f"regex {pattern!r} is not valid RE2 syntax ({reason}); Envoy matches header "
            "regexes with RE2, which has no lookarounds or backreferences"
        ) from None


def check_regex(pattern: str) -> str:
    """Return `pattern` if RE2 accepts it; InputError otherwise."""
    compile_regex(pattern)
    return pattern


def normalise(weights: Sequence[tuple[str, float]]) -> list[tuple[str, int]]:
    """Scale non-negative weights to integers summing to 100 (largest remainder).

    Ties in the remainder go to the entry listed first.
    """
    for name, weight in weights:
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not math.isfinite(weight)
            or weight < 0
        ):
            raise InputError(
                f"weight {_number(weight)} for {name} is not a finite, non-negative number"
            )
    names = [name for name, _ in weights]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InputError(f"{', '.join(duplicates)} weighted more than once; give each one weight")
    if not any(weight > 0 for _, weight in weights):
        raise InputError(
            "all weights are zero; give at least one version a weight above 0 "
            "(e.g. --weight v20261127-3-4b46ac11=100)"
        )
    # Scaled by the largest weight first, so huge weights (1e308) cannot overflow the sum.
    largest = max(weight for _, weight in weights)
    shares = _apportion([weight / largest for _, weight in weights], 100)
    return [(name, share) for (name, _), share in zip(weights, shares, strict=True)]


def set_weights(
    document: Document, weights: Mapping[str, float], drop: Sequence[str] = ()
) -> Document:
    """Give the named versions these (normalised) weights; others stay at 0 unless dropped."""
    result = copy.deepcopy(document)
    for name in [*weights, *drop]:
        check_version_id(name)
    both = set(weights) & set(drop)
    if both:
        raise InputError(f"{', '.join(sorted(both))} both weighted and dropped; choose one")
    repeated = sorted({name for name in drop if list(drop).count(name) > 1})
    if repeated:
        raise InputError(f"--drop {', '.join(repeated)} given more than once; drop it once")
    unknown = [name for name in drop if name not in _names(result)]
    if unknown:
        raise InputError(
            f"cannot drop {', '.join(unknown)}: not a version in the routing document "
            f"(live: {', '.join(_names(result)) or 'none'}); check the version id"
        )
    names = [v["name"] for v in result["versions"] if v["name"] not in drop]
    names += [name for name in weights if name not in names]
    split = dict(normalise([(name, weights[name]) for name in names if name in weights]))
    result["versions"] = [{"name": name, "weight": split.get(name, 0)} for name in names]
    check_references(result, dropped=drop)
    return result


def canary(document: Document, version: str, percent: float) -> Document:
    """Send `percent` to `version`; the rest keeps the current proportions of the others."""
    check_version_id(version)
    _check_percent(percent, "--percent")
    _check_whole(percent, "--percent")
    others = [(v["name"], v["weight"]) for v in document["versions"] if v["name"] != version]
    remaining = 100 - percent
    if remaining > 0 and sum(weight for _, weight in others) <= 0:
        raise InputError(
            f"no other version carries traffic to take the remaining {remaining:g}%; "
            f"use `traffic promote --version {version}` or give another version a weight first"
        )
    weights: dict[str, float] = {version: percent}
    total_others = sum(weight for _, weight in others) or 1
    weights.update({name: weight * remaining / total_others for name, weight in others})
    result = copy.deepcopy(document)
    if version not in _names(result):
        result["versions"].append({"name": version, "weight": 0})
    split = dict(normalise([(v["name"], weights[v["name"]]) for v in result["versions"]]))
    for entry in result["versions"]:
        entry["weight"] = split[entry["name"]]
    return result


def promote(document: Document, version: str) -> Document:
    """Blue/green switch: all traffic to `version`, every other version kept warm at 0."""
    return canary(document, version, 100)


def add_ab_rule(document: Document, header: str, kind: str, value: str, version: str) -> Document:
    """Route requests whose `header` matches to `version`, before the weighted split.

    A rule for the same header and match replaces the old one in place (order matters:
    Istio takes the first rule that matches).
    """
    if kind not in MATCH_KINDS:
        raise InputError(f"match kind {kind!r} is not one of {', '.join(MATCH_KINDS)}")
    check_header_name(header)
    if kind == "regex":
        check_regex(value)
    elif not value:
        raise InputError(f"the --{kind} value is empty; Istio needs a value to match")
    result = copy.deepcopy(document)
    rule = {"header": header, kind: value, "version": check_version_id(version)}
    rules = result.setdefault("abRules", [])
    for index, existing in enumerate(rules):
        if existing["header"] == header and existing.get(kind) == value:
            rules[index] = rule
            break
    else:
        rules.append(rule)
    check_references(result)
    return result


def remove_ab_rules(document: Document, header: str | None = None) -> Document:
    """Remove the rules on `header`, or every rule when header is None.

    Removing nothing is an error: it means a mistyped header, or a document other than
    the one the operator had in mind.
    """
    result = copy.deepcopy(document)
    rules = result.get("abRules", [])
    if header is None:
        if not rules:
            raise InputError("there are no A/B rules to clear")
        result["abRules"] = []
        return result
    check_header_name(header)
    kept = [rule for rule in rules if rule["header"] != header]
    if len(kept) == len(rules):
        headers = sorted({rule["header"] for rule in rules})
        raise InputError(
            f"no A/B rule matches on header {header!r} (rules exist for: "
            f"{', '.join(headers) or 'none'}); check the header name"
        )
    result["abRules"] = kept
    return result


def set_mirror(document: Document, version: str | None, percent: float = 100) -> Document:
    """Mirror `percent` of requests to `version` (responses discarded); None turns it off."""
    result = copy.deepcopy(document)
    if version is None:
        if not result.get("mirror"):
            raise InputError("mirroring is already off: there is no mirror to turn off")
        result.pop("mirror")
        return result
    _check_percent(percent, "--percent")
    if float(percent).is_integer():
        percent = int(percent)
    result["mirror"] = {"version": check_version_id(version), "percent": percent}
    check_references(result)
    return result


def plan(document: Document, version: str, steps: Sequence[float]) -> list[Document]:
    """The documents a canary rollout of `version` walks through, one per step percentage."""
    if not steps:
        raise InputError("--steps is empty; give increasing percentages such as 10,25,50,100")
    for step in steps:
        _check_percent(step, "--steps")
        _check_whole(step, "--steps")
    if any(later <= earlier for earlier, later in itertools.pairwise(steps)):
        raise InputError(f"--steps {','.join(f'{s:g}' for s in steps)} must strictly increase")
    if steps[0] <= 0:
        raise InputError("--steps must start above 0: a step at 0% sends nothing to the canary")
    return [canary(document, version, step) for step in steps]


def baseline(document: Document, candidate: str) -> str:
    """The version a rollout of `candidate` is judged against: the heaviest other version
    (ties to the one listed first)."""
    others = [v for v in document["versions"] if v["name"] != candidate and v["weight"] > 0]
    if not others:
        raise InputError(
            f"no version other than {candidate} carries traffic, so there is no baseline; "
            "name one explicitly"
        )
    return max(others, key=lambda v: v["weight"])["name"]


def retire(document: Document, keep: int) -> tuple[Document, list[str]]:
    """Drop the versions at weight 0 beyond the newest `keep`; return (document, dropped).

    Newest means listed last: a version enters the document at the end when it first gets
    traffic, so the list is in order of arrival. A version with weight above 0, an A/B rule
    or the mirror is never dropped, whatever its age.
    """
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise InputError(f"--keep {keep!r} must be a whole number >= 0")
    names = _names(document)
    newest = set(names[len(names) - keep :]) if keep else set()
    in_use = {rule["version"] for rule in document.get("abRules", [])}
    if document.get("mirror"):
        in_use.add(document["mirror"]["version"])
    dropped = [
        entry["name"]
        for entry in document["versions"]
        if entry["weight"] == 0 and entry["name"] not in newest and entry["name"] not in in_use
    ]
    result = copy.deepcopy(document)
    result["versions"] = [entry for entry in result["versions"] if entry["name"] not in dropped]
    check_references(result)
    return result, dropped


def preview(
    document: Document, requests: int, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Where `requests` requests carrying `headers` would go, following Istio's semantics.

    A/B rules are tried in order and the first match takes the request; otherwise the
    weighted split applies. Counts are the expected numbers (largest remainder).
    Returns {"matchedRule": rule or None, "counts": {version: n}, "mirrored": (version, n)}.
    """
    if not 1 <= requests <= MAX_PREVIEW_REQUESTS:
        raise InputError(f"--requests {requests} must be from 1 to {MAX_PREVIEW_REQUESTS}")
    lowered: dict[str, str] = {}
    for key, value in (headers or {}).items():
        if key.lower() in lowered:
            raise InputError(f"--header {key} is given more than once; give each header once")
        lowered[key.lower()] = value
    matched = next((rule for rule in document.get("abRules", []) if _matches(rule, lowered)), None)
    versions = [entry["name"] for entry in document["versions"]]
    if matched:
        counts = {name: (requests if name == matched["version"] else 0) for name in versions}
    else:
        weights = [entry["weight"] for entry in document["versions"]]
        counts = dict(zip(versions, _apportion(weights, requests), strict=True))
    mirror = document.get("mirror")
    mirrored = None
    if mirror:
        mirrored = (mirror["version"], round(requests * mirror["percent"] / 100))
    return {"matchedRule": matched, "counts": counts, "mirrored": mirrored}


def check_header_name(header: str) -> str:
    """Istio matches lowercase header names; refuse anything else with the fix."""
    if HEADER_NAME.fullmatch(header) is None:
        raise InputError(
            f"header {header!r} is not a lowercase HTTP header name; write e.g. x-user-group"
        )
    return header


def _matches(rule: Mapping[str, str], headers: Mapping[str, str]) -> bool:
    value = headers.get(rule["header"])
    if value is None:
        return False
    if "exact" in rule:
        return value == rule["exact"]
    if "prefix" in rule:
        return value.startswith(rule["prefix"])
    # Envoy's semantics: RE2, matching the whole header value.
    return compile_regex(rule["regex"]).fullmatch(value) is not None


def _apportion(weights: Sequence[float], total: int) -> list[int]:
    """Split `total` in proportion to `weights` (largest remainder; ties to the first listed)."""
    weight_sum = sum(weights)
    if weight_sum <= 0:
        return [0] * len(weights)
    exact = [weight * total / weight_sum for weight in weights]
    shares = [math.floor(share) for share in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for index in by_remainder[: total - sum(shares)]:
        shares[index] += 1
    return shares


def _names(document: Document) -> list[str]:
    return [entry["name"] for entry in document["versions"]]


def _check_percent(percent: float, flag: str) -> None:
    if not isinstance(percent, int | float) or math.isnan(percent) or not 0 <= percent <= 100:
        raise InputError(f"{flag} {_number(percent)} is outside 0-100")


def _check_whole(percent: float, flag: str) -> None:
    """Weights are whole percentages; a fraction could only be rounded away silently."""
    if not float(percent).is_integer():
        raise InputError(
            f"{flag} {_number(percent)} is not a whole percentage: route weights are "
            f"integers, so use {math.floor(percent)} or {math.ceil(percent)}"
        )


def _number(value: object) -> str:
    """A number as a person writes it (120, not 120.0); anything else as it came."""
    return f"{value:g}" if isinstance(value, int | float) else repr(value)


def check_references(document: Document, dropped: Sequence[str] = ()) -> None:
    """Every A/B rule and the mirror must name a live version."""
    live = set(_names(document))
    referrers = [("an A/B rule", rule["version"]) for rule in document.get("abRules", [])]
    if document.get("mirror"):
        referrers.append(("the mirror", document["mirror"]["version"]))
    for what, version in referrers:
        if version not in live:
            fix = (
                "remove that rule or mirror first"
                if version in dropped
                else f"add it first with `traffic set --weight {version}=0`"
            )
            raise InputError(f"{what} routes to {version}, which is not a live version; {fix}")
