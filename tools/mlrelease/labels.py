"""Kubernetes label values: checking and sanitising, so that any fact can become a label."""

import re

MAX_LABEL_VALUE = 63
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_NOT_ALLOWED = re.compile(r"[^-A-Za-z0-9_.]+")
_EDGE = re.compile(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$")


def is_label_value(value: str) -> bool:
    """True when `value` is a valid Kubernetes label value."""
    return len(value) <= MAX_LABEL_VALUE and _LABEL_VALUE.fullmatch(value) is not None


def label_value(raw: str) -> str:
    """Best valid label value for `raw`: invalid runs become '-', trimmed to 63 characters.

    May return "" when nothing usable is left; callers leave such a label out (the full
    value always travels in an annotation).
    """
    value = _EDGE.sub("", _NOT_ALLOWED.sub("-", raw))
    return _EDGE.sub("", value[:MAX_LABEL_VALUE])
