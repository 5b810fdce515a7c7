"""The training Job's configuration, read from environment variables.

The variable names are the contract with `charts/training` (`ENV_VARIABLES` lists every
name read here, so chart tests can check both sides agree). Everything is checked before
any work starts, and one error lists every missing or invalid variable with what is
expected, so a misconfigured Job fails once, quickly, with the whole fix.
"""

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from mlrelease import provenance as provenance_mod
from mlrelease.errors import InputError
from mlrelease.versions import version_id

REQUIRED = ("BUILD_NUMBER", "MODEL_NAME", "DATA_URI", "MODELS_URI")
CREDENTIAL_VARIABLES = ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_URL")
LOSSES = ("warp", "bpr", "warp-kos", "logistic")

# Defaults reach precision@10 >= 0.20 on a random 80/20 split of MovieLens 100k ratings
# >= 4 (bench/movielens_quality.py); more epochs or components overfit that data.
DEFAULTS = {
    "LOSS": "warp",
    "COMPONENTS": "32",
    "EPOCHS": "12",
    "LEARNING_RATE": "0.05",
    "ITEM_ALPHA": "0.0",
    "USER_ALPHA": "0.0",
    "MAX_SAMPLED": "50",
    "SEED": "42",
    # One thread keeps a run reproducible: LightFM's parallel SGD is lock-free.
    "THREADS": "1",
    "MIN_RATING": "0",
    "TEST_FRACTION": "0.2",
    "EVAL_K": "10",
    # A floor that only a broken model or broken data fails; set it per model.
    "MIN_PRECISION_AT_K": "0.05",
    # The gate refuses to judge a model on fewer users with held-out interactions: a mean
    # precision over a handful of users is noise (3 rows of 2 users once passed it). A real
    # export clears it easily: MovieLens 100k holds out interactions of all 943 users, the
    # rehearsal's data of several hundred.
    "MIN_TEST_USERS": "50",
}

ENV_VARIABLES = (
    "BUILD_NUMBER",
    "MODEL_VERSION",
    "MODEL_NAME",
    "DATA_URI",
    "MODELS_URI",
    *DEFAULTS,
    "PROVENANCE",
    *CREDENTIAL_VARIABLES,
)

_MODEL_NAME = re.compile(r"[a-z0-9]([-a-z0-9_.]*[a-z0-9])?")


@dataclasses.dataclass(frozen=True)
class Hyperparameters:
    """LightFM settings; `to_dict` is what the model manifest records."""

    loss: str
    components: int
    epochs: int
    learning_rate: float
    item_alpha: float
    user_alpha: float
    max_sampled: int
    seed: int
    threads: int

    def to_dict(self) -> dict[str, Any]:
        """camelCase keys, as in the rest of the manifest."""
        return {
            "loss": self.loss,
            "components": self.components,
            "epochs": self.epochs,
            "learningRate": self.learning_rate,
            "itemAlpha": self.item_alpha,
            "userAlpha": self.user_alpha,
            "maxSampled": self.max_sampled,
            "seed": self.seed,
        }


def default_hyperparameters(**overrides: Any) -> Hyperparameters:
    """The default hyperparameters (as the Job uses them), with `overrides` by field name."""
    values = {
        "loss": DEFAULTS["LOSS"],
        "components": int(DEFAULTS["COMPONENTS"]),
        "epochs": int(DEFAULTS["EPOCHS"]),
        "learning_rate": float(DEFAULTS["LEARNING_RATE"]),
        "item_alpha": float(DEFAULTS["ITEM_ALPHA"]),
        "user_alpha": float(DEFAULTS["USER_ALPHA"]),
        "max_sampled": int(DEFAULTS["MAX_SAMPLED"]),
        "seed": int(DEFAULTS["SEED"]),
        "threads": int(DEFAULTS["THREADS"]),
    }
    return Hyperparameters(**{**values, **overrides})


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything one training run needs, validated."""

    build_number: str
    model_version: str
    model_name: str
    data_uri: str
    models_uri: str
    hyperparameters: Hyperparameters
    min_rating: float
    test_fraction: float
    eval_k: int
    min_precision_at_k: float
    provenance: provenance_mod.Provenance
    min_test_users: int


class _Collector:
    """Reads variables and collects every problem instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def text(self, name: str) -> str | None:
        value = self.environ.get(name, "").strip()
        if value:
            return value
        if name in DEFAULTS:
            return DEFAULTS[name]
        if name in REQUIRED:
            self.problems.append(f"{name} is not set ({_EXPECTED[name]})")
        return None

    def number(
        self, name: str, parse: Callable[[str], Any], ok: Callable[[Any], bool], expected: str
    ) -> Any:
        raw = self.text(name)
        try:
            value = parse(raw)
        except (TypeError, ValueError):
            value = None
        if value is None or value != value or not ok(value):  # value != value: NaN
            self.problems.append(f"{name}={raw!r} is invalid: expected {expected}")
            return parse(DEFAULTS[name])
        return value


_EXPECTED = {
    "BUILD_NUMBER": "the Azure Pipelines build number, e.g. 20261127.3",
    "MODEL_NAME": "a folder name: lowercase letters, digits, '-', '_' or '.'",
    "DATA_URI": "the export folder: a local path, file://... or az://<container>/<prefix>",
    "MODELS_URI": "the model store root: a local path, file://... or az://<container>/<prefix>",
}


def load(environ: Mapping[str, str]) -> Config:
    """Validate the environment; raise one InputError listing every problem."""
    env = _Collector(environ)
    build_number = env.text("BUILD_NUMBER")
    model_name = env.text("MODEL_NAME")
    data_uri = env.text("DATA_URI")
    models_uri = env.text("MODELS_URI")

    model_version = None
    if build_number:
        model_version = version_id(build_number)
        given = environ.get("MODEL_VERSION", "").strip()
        if given and given != model_version:
            env.problems.append(
                f"MODEL_VERSION={given!r} does not match BUILD_NUMBER={build_number!r}: "
                f"expected {model_version!r} (`mlrelease version {build_number}`) or unset"
            )
    if model_name and not (_MODEL_NAME.fullmatch(model_name) and len(model_name) <= 63):
        env.problems.append(
            f"MODEL_NAME={model_name!r} is invalid: expected {_EXPECTED['MODEL_NAME']}, "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    for name, uri in (("DATA_URI", data_uri), ("MODELS_URI", models_uri)):
        if (
            uri
            and uri.startswith("az://")
            and not any(environ.get(variable, "").strip() for variable in CREDENTIAL_VARIABLES)
        ):
            env.problems.append(
                f"{name}={uri!r} is on Azure Blob Storage but neither "
                "AZURE_STORAGE_CONNECTION_STRING nor AZURE_STORAGE_ACCOUNT_URL is set"
            )

    loss = env.text("LOSS")
    if loss not in LOSSES:
        env.problems.append(f"LOSS={loss!r} is invalid: expected one of {', '.join(LOSSES)}")
        loss = DEFAULTS["LOSS"]
    positive_int = "a whole number >= 1"
    hyperparameters = Hyperparameters(
        loss=loss,
        components=env.number("COMPONENTS", int, lambda v: v >= 1, positive_int),
        epochs=env.number("EPOCHS", int, lambda v: v >= 1, positive_int),
        learning_rate=env.number(
            "LEARNING_RATE", float, lambda v: 0 < v <= 10, "a number > 0, e.g. 0.05"
        ),
        item_alpha=env.number("ITEM_ALPHA", float, lambda v: v >= 0, "a number >= 0"),
        user_alpha=env.number("USER_ALPHA", float, lambda v: v >= 0, "a number >= 0"),
        max_sampled=env.number("MAX_SAMPLED", int, lambda v: v >= 1, positive_int),
        seed=env.number("SEED", int, lambda v: 0 <= v < 2**31, "a whole number 0..2147483647"),
        threads=env.number("THREADS", int, lambda v: 1 <= v <= 256, "a whole number 1..256"),
    )
    min_rating = env.number(
        "MIN_RATING", float, lambda v: abs(v) < float("inf"), "a number (0 keeps all)"
    )
    test_fraction = env.number(
        "TEST_FRACTION", float, lambda v: 0 < v < 1, "a number between 0 and 1, e.g. 0.2"
    )
    eval_k = env.number("EVAL_K", int, lambda v: v >= 1, positive_int)
    min_precision = env.number(
        "MIN_PRECISION_AT_K", float, lambda v: 0 <= v <= 1, "a number between 0 and 1"
    )
    min_test_users = env.number("MIN_TEST_USERS", int, lambda v: v >= 1, positive_int)
    facts = _provenance(env, build_number)

    if env.problems:
        raise InputError(
            "the training configuration is invalid:\n  - "
            + "\n  - ".join(env.problems)
            + "\nSet these environment variables (charts/training sets them from values)."
        )
    return Config(
        build_number=build_number,
        model_version=model_version,
        model_name=model_name,
        data_uri=data_uri,
        models_uri=models_uri,
        hyperparameters=hyperparameters,
        min_rating=min_rating,
        test_fraction=test_fraction,
        eval_k=eval_k,
        min_precision_at_k=min_precision,
        provenance=facts,
        min_test_users=min_test_users,
    )


def _provenance(env: _Collector, build_number: str | None) -> provenance_mod.Provenance:
    """PROVENANCE is the JSON of Provenance.to_dict(); the build number must agree."""
    raw = env.environ.get("PROVENANCE", "").strip()
    expected = 'a JSON object of strings, e.g. {"buildNumber": "20261127.3", "commit": "..."}'
    if not raw:
        return provenance_mod.Provenance(build_number=build_number)
    try:
        facts = json.loads(raw)
    except json.JSONDecodeError as error:
        env.problems.append(f"PROVENANCE is not valid JSON ({error}): expected {expected}")
        return provenance_mod.Provenance(build_number=build_number)
    if facts is None:
        facts = {}  # `toJson` of an unset values key
    # Helm's toJson keeps YAML numbers (buildId: 1234) as numbers; they mean the same text.
    if not isinstance(facts, dict) or not all(
        isinstance(value, str | int | float | None) and not isinstance(value, bool)
        for value in facts.values()
    ):
        env.problems.append(f"PROVENANCE is invalid: expected {expected}")
        return provenance_mod.Provenance(build_number=build_number)
    facts = {key: str(value) for key, value in facts.items() if value not in (None, "")}
    recorded = facts.get("buildNumber")
    if recorded and build_number and recorded != build_number:
        env.problems.append(
            f"PROVENANCE buildNumber {recorded!r} does not match BUILD_NUMBER={build_number!r}"
        )
    facts = {**facts, "buildNumber": build_number} if build_number else facts
    return provenance_mod.from_dict(facts)
