"""Version ids: the one name a model version goes by everywhere.

An Azure Pipelines build number (`20261127.3`, `Build 42`, ...) becomes a DNS-1035 label
that can name Helm releases (`training-<id>`, `scoring-<id>`), Kubernetes objects, the
`version` pod label, Istio DestinationRule subsets and the model's folder in the store.

The mapping is deterministic and injective in practice: a build number that is already a
valid label body is kept as it is (behind a leading `v`), and any build number that had to
be changed (case, characters, length) gets a short hash of the raw build number appended,
so two different build numbers never share an id.
"""

import hashlib
import re

from mlrelease.errors import InputError

# `scoring-` is the longest release prefix; Helm allows 53 characters per release name,
# and the id also has to leave room in 63-character object names such as
# `scoring-<id>-<suffix>`, so ids stay well inside both.
MAX_ID_LENGTH = 40
HASH_LENGTH = 8
PREFIX = "v"

_ID_PATTERN = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_NOT_ALLOWED = re.compile(r"[^a-z0-9]+")


def _short_hash(build_number: str) -> str:
    return hashlib.sha256(build_number.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def version_id(build_number: str) -> str:
    """Return the version id for an Azure Pipelines build number.

    Raises InputError for an empty or whitespace-only build number.
    """
    if not build_number or not build_number.strip():
        raise InputError("the build number is empty; pass the value of $(Build.BuildNumber)")
    body = _NOT_ALLOWED.sub("-", build_number.lower()).strip("-")
    lossless = body == build_number and len(PREFIX) + len(body) <= MAX_ID_LENGTH
    if lossless:
        return PREFIX + body
    keep = MAX_ID_LENGTH - len(PREFIX) - 1 - HASH_LENGTH
    body = body[:keep].rstrip("-")
    return (
        f"{PREFIX}{body}-{_short_hash(build_number)}"
        if body
        else PREFIX + _short_hash(build_number)
    )


def is_version_id(candidate: str) -> bool:
    """True when `candidate` is shaped like a version id (DNS-1035 label, length bound)."""
    return len(candidate) <= MAX_ID_LENGTH and _ID_PATTERN.fullmatch(candidate) is not None


def check_version_id(candidate: str) -> str:
    """Return `candidate` if it is a valid version id, else raise InputError saying why."""
    if not is_version_id(candidate):
        raise InputError(
            f"{candidate!r} is not a version id: ids are lowercase letters, digits and '-', "
            f"start with a letter, end with a letter or digit and have at most "
            f"{MAX_ID_LENGTH} characters; get one with `mlrelease version BUILD_NUMBER`"
        )
    return candidate
