"""Routing documents for the traffic tests, written as (version, weight) pairs."""


def doc(*weights, rules=(), mirror=None) -> dict:
    """A routing document: these versions and weights, A/B rules, and an optional mirror."""
    routing = {
        "host": "scoring",
        "versions": [{"name": name, "weight": weight} for name, weight in weights],
        "abRules": list(rules),
    }
    if mirror:
        routing["mirror"] = mirror
    return routing
