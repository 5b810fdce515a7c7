"""The scoring server's environment contract, parsed and checked in one place.

The scoring chart sets these variables and `python -m scoring`, the gunicorn config and
the app all read them through `from_environ`, so a typo in a chart value is reported once,
at start-up, with every bad variable named, instead of surfacing as a 500 under load.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass

from mlrelease.errors import InputError

# Every variable the scoring code reads (the chart <-> code contract). The two storage
# credential variables are read by `mlrelease.store` when MODEL_URI is `az://...`, and
# PROMETHEUS_MULTIPROC_DIR by scoring.gunicorn_conf and prometheus-client.
ENV_VARIABLES = (
    "MODEL_URI",
    "MODEL_VERSION",
    "HOST",
    "PORT",
    "WORKERS",
    "THREADS",
    "MAX_K",
    "MAX_PAIRS",
    "MAX_BODY_BYTES",
    "TIMEOUT",
    "MODEL_RETRY_SECONDS",
    # Optional: where worker metrics are aggregated; a fresh temporary folder by default.
    "PROMETHEUS_MULTIPROC_DIR",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT_URL",
)

# name: (default, minimum, maximum)
_INTEGERS = {
    "PORT": (8080, 1, 65535),
    "WORKERS": (2, 1, 64),
    "THREADS": (1, 1, 64),
    "MAX_K": (100, 1, 10000),
    "MAX_PAIRS": (1000, 1, 1_000_000),
    "MAX_BODY_BYTES": (65536, 1024, 64 * 1024 * 1024),
    "TIMEOUT": (30, 1, 3600),
    "MODEL_RETRY_SECONDS": (30, 1, 3600),
}


@dataclass(frozen=True)
class Settings:
    """Validated scoring settings; field names follow the environment variables."""

    model_uri: str
    # Empty when not set: the version is then taken from the MODEL_URI folder name and not
    # checked against the manifest.
    model_version: str = ""
    host: str = "0.0.0.0"
    port: int = 8080
    workers: int = 2
    threads: int = 1
    max_k: int = 100
    max_pairs: int = 1000
    max_body_bytes: int = 65536
    timeout: int = 30
    # Longest pause between attempts to load a model that is not published yet.
    model_retry_seconds: int = 30

    @property
    def expected_version(self) -> str:
        """The version this server is meant to serve, known before the model is loaded."""
        return self.model_version or default_version(self.model_uri)


def default_version(model_uri: str) -> str:
    """The version a MODEL_URI names: its last path segment (`<models>/<name>/<version>`)."""
    return model_uri.rstrip("/").rsplit("/", 1)[-1]


def from_environ(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check the scoring settings; raise InputError naming every invalid variable."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    values: dict[str, object] = {}

    model_uri = env.get("MODEL_URI", "").strip()
    if not model_uri:
        problems.append(
            "MODEL_URI is not set; set it to the model version folder, "
            "e.g. az://models/recommender/v20261127-3-4b46ac11 or a local folder"
        )
    values["model_uri"] = model_uri
    values["model_version"] = env.get("MODEL_VERSION", "").strip()
    values["host"] = env.get("HOST", "").strip() or "0.0.0.0"

    for name, (default, low, high) in _INTEGERS.items():
        raw = env.get(name, "").strip()
        if not raw:
            values[name.lower()] = default
            continue
        try:
            number = int(raw, 10)
        except ValueError:
            problems.append(f"{name}={raw!r} is not a whole number; use {low}..{high}")
            continue
        if not low <= number <= high:
            problems.append(f"{name}={number} is out of range; use {low}..{high}")
            continue
        values[name.lower()] = number

    if problems:
        raise InputError("invalid scoring settings:\n  " + "\n  ".join(problems))
    return Settings(**values)  # type: ignore[arg-type]
