"""The readiness gate: no traffic to a model version that is not complete and verified.

A version may sit in the routing document at weight 0 while its model is still training;
it may not receive a weight above 0, an A/B rule or the mirror until the store holds a
complete version whose every file matches its manifest digest.
"""

from mlrelease.errors import InputError, MlreleaseError
from mlrelease.traffic.operations import Document


def versions_receiving_traffic(doc: Document) -> list[str]:
    """Versions that some request could reach: weight > 0, an A/B rule, or the mirror."""
    names = [entry["name"] for entry in doc["versions"] if entry["weight"] > 0]
    names += [rule["version"] for rule in doc.get("abRules", [])]
    if doc.get("mirror"):
        names.append(doc["mirror"]["version"])
    return list(dict.fromkeys(names))


def check_ready(doc: Document, models_uri: str, model_name: str) -> None:
    """Raise InputError naming every version that would get traffic but is not verified."""
    from mlrelease.store import artifact  # the store clients load only when the gate is used

    problems = []
    for name in versions_receiving_traffic(doc):
        uri = artifact.version_uri(models_uri, model_name, name)
        try:
            artifact.verify(uri)
        except MlreleaseError as error:
            problems.append(f"{name} ({error})")
    if problems:
        raise InputError(
            "refusing traffic to versions whose model is not complete and verified: "
            + "; ".join(problems)
            + ". Wait for the model (`mlrelease model wait`) or keep these versions at weight 0"
        )
