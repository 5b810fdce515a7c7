"""Provenance: which pipeline run, commit, branch and pull request made a model version.

The facts come from the Azure Pipelines environment (or flags that override it). Short,
queryable facts become Kubernetes labels (valid values, <= 63 characters); the full raw
values and URLs become annotations. The same record is written into the model manifest,
so a running pod, its model and the pipeline run point at each other.
"""

import dataclasses
from collections.abc import Mapping
from urllib.parse import quote

from mlrelease.errors import check_printable
from mlrelease.labels import label_value
from mlrelease.versions import version_id

LABEL_PREFIX = "mlrelease.io/"

# Field name -> the Azure Pipelines variable it comes from, as the agent exports it.
AZURE_PIPELINES_ENV = {
    "build_number": "BUILD_BUILDNUMBER",
    "build_id": "BUILD_BUILDID",
    "commit": "BUILD_SOURCEVERSION",
    "branch": "BUILD_SOURCEBRANCH",
    "pull_request": "SYSTEM_PULLREQUEST_PULLREQUESTID",
    "requested_for": "BUILD_REQUESTEDFOR",
    "reason": "BUILD_REASON",
    "collection_uri": "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI",
    "project": "SYSTEM_TEAMPROJECT",
}

# Facts short and stable enough to select on; everything is also kept in full as an
# annotation. `requested_for` is a person's name, so it is never a label.
LABEL_FIELDS = ("build_id", "commit", "branch", "pull_request", "reason")


@dataclasses.dataclass(frozen=True)
class Provenance:
    """Facts about the pipeline run that built a model version; None means unknown."""

    build_number: str | None = None
    build_id: str | None = None
    commit: str | None = None
    branch: str | None = None
    pull_request: str | None = None
    requested_for: str | None = None
    reason: str | None = None
    collection_uri: str | None = None
    project: str | None = None

    @property
    def version_id(self) -> str | None:
        """The version id of the build number, when there is one."""
        return version_id(self.build_number) if self.build_number else None

    @property
    def build_url(self) -> str | None:
        """Link to the pipeline run, when the collection, project and build id are known."""
        if not (self.collection_uri and self.project and self.build_id):
            return None
        base = self.collection_uri.rstrip("/")
        return f"{base}/{quote(self.project)}/_build/results?buildId={quote(self.build_id)}"

    def to_dict(self) -> dict[str, str]:
        """The known facts as camelCase keys (the manifest and PROVENANCE env format)."""
        facts = {
            _camel(field.name): getattr(self, field.name)
            for field in dataclasses.fields(self)
            if getattr(self, field.name)
        }
        for key, value in (("versionId", self.version_id), ("buildUrl", self.build_url)):
            if value:
                facts[key] = value
        return facts

    def labels(self) -> dict[str, str]:
        """Label-safe facts; a fact with nothing label-safe in it is left out."""
        labels = {}
        if self.version_id:
            labels[LABEL_PREFIX + "version"] = self.version_id
        for name in LABEL_FIELDS:
            raw = getattr(self, name)
            if name == "branch" and raw:
                raw = short_branch(raw)
            value = label_value(raw) if raw else ""
            if value:
                labels[LABEL_PREFIX + _kebab(name)] = value
        return labels

    def annotations(self) -> dict[str, str]:
        """Every known fact in full, plus the link to the pipeline run."""
        return {LABEL_PREFIX + _kebab(_snake(key)): value for key, value in self.to_dict().items()}


def from_environment(
    environ: Mapping[str, str], overrides: Mapping[str, str | None] | None = None
) -> Provenance:
    """Provenance from Azure Pipelines variables; non-empty `overrides` win.

    Empty variables count as absent: Azure Pipelines leaves e.g. the pull request id empty
    on a scheduled build.
    """
    facts = {}
    for name, variable in AZURE_PIPELINES_ENV.items():
        override = (overrides or {}).get(name)
        value = override or environ.get(variable)
        if value and value.strip():
            # Facts become annotations and a values file's header: one line each.
            source = f"--{_kebab(name)}" if override else f"${variable}"
            facts[name] = check_printable(value.strip(), source)
    return Provenance(**facts)


def from_dict(facts: Mapping[str, str]) -> Provenance:
    """Inverse of Provenance.to_dict (derived keys such as buildUrl are recomputed)."""
    names = {_camel(field.name): field.name for field in dataclasses.fields(Provenance)}
    return Provenance(**{names[key]: value for key, value in facts.items() if key in names})


def short_branch(ref: str) -> str:
    """`refs/heads/main` -> `main`, `refs/pull/7/merge` -> `pull/7/merge`."""
    for prefix in ("refs/heads/", "refs/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def _camel(snake: str) -> str:
    first, *rest = snake.split("_")
    return first + "".join(part.title() for part in rest)


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


def _kebab(snake: str) -> str:
    return snake.replace("_", "-")
