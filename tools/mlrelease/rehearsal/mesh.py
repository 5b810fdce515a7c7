"""A small Istio stand-in: route requests the way the rendered VirtualService says.

Only what the routing chart renders is interpreted: HTTP routes tried in order, header
matches (exact, prefix, regex; all headers of one match must hold, any match of a route
will do), weighted destinations by subset, and a mirror with a percentage. Anything else
in the VirtualService that would change where a request goes is an error rather than
silently ignored; retries and timeouts change only how, so they pass.
"""

import dataclasses
import random
import re
from collections.abc import Mapping
from typing import Any

from mlrelease.errors import MlreleaseError


@dataclasses.dataclass(frozen=True)
class Decision:
    """Where one request goes: the version that answers and, maybe, a mirrored copy."""

    version: str
    mirror: str | None
    route: str


class Mesh:
    """Route decisions from a rendered VirtualService and DestinationRule."""

    def __init__(self, virtual_service: dict[str, Any], destination_rule: dict[str, Any]) -> None:
        self.subsets = {
            subset["name"]: subset["labels"]["version"]
            for subset in destination_rule["spec"].get("subsets", [])
        }
        self.routes = virtual_service["spec"]["http"]
        for route in self.routes:
            unknown = set(route) - {
                *("name", "match", "route", "mirror", "mirrorPercentage", "retries", "timeout")
            }
            if unknown:
                raise MlreleaseError(f"VirtualService route uses {sorted(unknown)}, not rehearsed")

    def decide(self, headers: Mapping[str, str], rng: random.Random) -> Decision:
        """The version Istio would send a request with `headers` to."""
        lowered = {key.lower(): value for key, value in headers.items()}
        for index, route in enumerate(self.routes):
            matches = route.get("match")
            if matches and not any(_match(m, lowered) for m in matches):
                continue
            destinations = route["route"]
            weights = [d.get("weight", 100 if len(destinations) == 1 else 0) for d in destinations]
            chosen = rng.choices(destinations, weights=weights)[0] if sum(weights) else None
            if chosen is None:
                raise MlreleaseError(f"route {index} has no destination with weight above 0")
            mirror = None
            if "mirror" in route:
                percent = route.get("mirrorPercentage", {}).get("value", 100)
                if rng.random() * 100 < percent:
                    mirror = self.subsets[route["mirror"]["subset"]]
            name = route.get("name", f"route {index}")
            return Decision(self.subsets[chosen["destination"]["subset"]], mirror, name)
        raise MlreleaseError("no VirtualService route matched; Istio would answer 404")


def _match(match: dict[str, Any], headers: Mapping[str, str]) -> bool:
    unknown = set(match) - {"headers", "name"}
    if unknown:
        raise MlreleaseError(f"VirtualService match uses {sorted(unknown)}, not rehearsed")
    for name, condition in match.get("headers", {}).items():
        value = headers.get(name.lower())
        if value is None:
            return False
        if "exact" in condition and value != condition["exact"]:
            return False
        if "prefix" in condition and not value.startswith(condition["prefix"]):
            return False
        if "regex" in condition and not re.fullmatch(condition["regex"], value):
            return False
    return True
