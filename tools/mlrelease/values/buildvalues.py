"""Values documents for one build of the training and scoring charts.

A build number decides everything that must agree across the pipeline: the version id (release
names, the `version` label, the model folder), the image tag and the model location. Building
the whole document here, from flags and the Azure Pipelines environment, means the pipeline
never assembles values by hand; the result is checked against the chart's schema before it is
written.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlrelease.errors import InputError
from mlrelease.provenance import Provenance
from mlrelease.values import valuesfile
from mlrelease.versions import version_id

# Docker's tag grammar; a build number that breaks it needs an explicit --image-tag.
_IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True)
class Storage:
    """How the pods reach the model store; credentials are only ever referenced, never held."""

    secret_name: str | None = None
    secret_key: str = "connection-string"
    workload_identity_client_id: str | None = None
    account_url: str | None = None
    volume_claim: str | None = None
    volume_mount_path: str = "/models"

    def values(self) -> dict[str, Any]:
        """The charts' `storage` key."""
        if bool(self.workload_identity_client_id) != bool(self.account_url):
            raise InputError(
                "workload identity needs both --workload-identity-client-id and "
                "--storage-account-url"
            )
        return {
            "connectionStringSecret": {"name": self.secret_name or "", "key": self.secret_key},
            "workloadIdentity": {
                "enabled": bool(self.workload_identity_client_id),
                "clientId": self.workload_identity_client_id or "",
                "accountUrl": self.account_url or "",
            },
            "localVolume": {
                "enabled": bool(self.volume_claim),
                "claimName": self.volume_claim or "",
                "mountPath": self.volume_mount_path,
            },
        }

    def service_account(self) -> dict[str, Any]:
        """Workload identity needs a ServiceAccount carrying the client id."""
        return {"create": bool(self.workload_identity_client_id)}


@dataclass(frozen=True)
class Build:
    """What every values document of one build shares."""

    build_number: str
    image_repository: str
    models_uri: str
    model_name: str = "recommender"
    image_tag: str | None = None
    provenance: Provenance = field(default_factory=Provenance)
    storage: Storage = field(default_factory=Storage)

    @property
    def version_id(self) -> str:
        """The version id of the build number."""
        return version_id(self.build_number)

    @property
    def tag(self) -> str:
        """The image tag: the build number unless overridden."""
        tag = self.image_tag or self.build_number
        if not _IMAGE_TAG.fullmatch(tag):
            raise InputError(
                f"image tag {tag!r} is not a valid image tag (letters, digits, '_', '.', '-', "
                f"at most 128); pass --image-tag with the tag the image was pushed under"
            )
        return tag

    def common(self) -> dict[str, Any]:
        """Keys every build chart takes."""
        if not self.image_repository:
            raise InputError("the image repository is empty; pass --image-repository")
        if not self.models_uri:
            raise InputError("the model store is empty; pass --models-uri")
        return {
            "buildNumber": self.build_number,
            "versionId": self.version_id,
            "image": {"repository": self.image_repository, "tag": self.tag},
            "model": {"name": self.model_name, "modelsUri": self.models_uri},
            "storage": self.storage.values(),
            "serviceAccount": self.storage.service_account(),
            "provenance": {
                "labels": self.provenance.labels(),
                "annotations": self.provenance.annotations(),
            },
        }


def training_values(
    build: Build, data_uri: str, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The values document for `training-<version id>`; `overrides` (from --value) win."""
    if not data_uri:
        raise InputError("the training data location is empty; pass --data-uri")
    values = build.common()
    values["data"] = {"uri": data_uri}
    values["provenance"]["facts"] = build.provenance.to_dict()
    return check_identity(valuesfile.merge(values, overrides or {}), build)


def scoring_values(build: Build, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The values document for `scoring-<version id>`; `overrides` (from --value) win."""
    return check_identity(valuesfile.merge(build.common(), overrides or {}), build)


def check_identity(values: dict[str, Any], build: Build) -> dict[str, Any]:
    """Refuse a --value that renames the build: the release, the model folder and the
    pipeline run would no longer point at each other."""
    for key, expected in (("buildNumber", build.build_number), ("versionId", build.version_id)):
        if values.get(key) != expected:
            raise InputError(
                f"--value {key}={values.get(key)!r} contradicts the build number "
                f"{build.build_number!r} (which gives {key} {expected!r}); leave {key} to "
                "--build-number"
            )
    return values
