"""The Job's environment contract: defaults, and one error naming every problem."""

import json

import pytest

from mlrelease.errors import InputError
from mlrelease.versions import version_id
from training import config

REQUIRED_ENV = {
    "BUILD_NUMBER": "20261127.3",
    "MODEL_NAME": "recs",
    "DATA_URI": "/data/exports",
    "MODELS_URI": "/models",
}


def error_of(environ: dict[str, str]) -> str:
    with pytest.raises(InputError) as caught:
        config.load(environ)
    return str(caught.value)


def test_env_variables_lists_every_name_read_and_each_optional_one_has_a_default():
    assert len(set(config.ENV_VARIABLES)) == len(config.ENV_VARIABLES)
    for name in (*config.REQUIRED, "MODEL_VERSION", "PROVENANCE", *config.CREDENTIAL_VARIABLES):
        assert name in config.ENV_VARIABLES
    optional = set(config.ENV_VARIABLES) - set(config.REQUIRED)
    optional -= {"MODEL_VERSION", "PROVENANCE", *config.CREDENTIAL_VARIABLES}
    assert optional == set(config.DEFAULTS)


def test_only_the_required_variables_give_the_documented_defaults():
    loaded = config.load(REQUIRED_ENV)
    assert loaded.model_version == version_id("20261127.3")
    assert loaded.hyperparameters == config.default_hyperparameters()
    assert loaded.hyperparameters.loss == "warp"
    assert (loaded.min_rating, loaded.test_fraction, loaded.eval_k) == (0, 0.2, 10)
    assert loaded.min_precision_at_k == float(config.DEFAULTS["MIN_PRECISION_AT_K"])
    assert loaded.provenance.build_number == "20261127.3"


def test_every_missing_required_variable_is_named_in_one_error():
    message = error_of({})
    for name in config.REQUIRED:
        assert f"{name} is not set" in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EPOCHS", "ten"),
        ("EPOCHS", "0"),
        ("COMPONENTS", "-4"),
        ("LEARNING_RATE", "0"),
        ("LEARNING_RATE", "nan"),
        ("ITEM_ALPHA", "-0.1"),
        ("MAX_SAMPLED", "1.5"),
        ("SEED", "-1"),
        ("THREADS", "0"),
        ("MIN_RATING", "four"),
        ("TEST_FRACTION", "1"),
        ("EVAL_K", "0"),
        ("MIN_PRECISION_AT_K", "1.2"),
        ("LOSS", "mse"),
        ("MODEL_NAME", "Recs/Prod"),
    ],
)
def test_an_invalid_value_is_named_with_what_is_expected(name, value):
    message = error_of({**REQUIRED_ENV, name: value})
    assert f"{name}={value!r} is invalid" in message
    assert "expected" in message


def test_all_invalid_and_missing_variables_are_reported_together():
    message = error_of({"EPOCHS": "x", "TEST_FRACTION": "2", "MODEL_NAME": "ok"})
    for fragment in ("BUILD_NUMBER is not set", "EPOCHS='x'", "TEST_FRACTION='2'", "DATA_URI"):
        assert fragment in message


def test_model_version_must_match_the_build_number():
    assert config.load({**REQUIRED_ENV, "MODEL_VERSION": version_id("20261127.3")})
    message = error_of({**REQUIRED_ENV, "MODEL_VERSION": "v20261127-4"})
    assert "MODEL_VERSION='v20261127-4' does not match BUILD_NUMBER" in message
    assert version_id("20261127.3") in message


def test_provenance_is_parsed_from_json_and_checked_against_the_build_number():
    facts = {"buildNumber": "20261127.3", "commit": "abc123", "pullRequest": "17"}
    loaded = config.load({**REQUIRED_ENV, "PROVENANCE": json.dumps(facts)})
    assert loaded.provenance.to_dict()["commit"] == "abc123"
    assert loaded.provenance.pull_request == "17"
    numeric = json.dumps({"buildId": 1234, "pullRequest": None, "commit": "abc"})
    assert config.load({**REQUIRED_ENV, "PROVENANCE": numeric}).provenance.build_id == "1234"
    assert config.load({**REQUIRED_ENV, "PROVENANCE": "null"}).provenance.commit is None
    assert "JSON object of strings" in error_of({**REQUIRED_ENV, "PROVENANCE": '{"a": true}'})
    assert "not valid JSON" in error_of({**REQUIRED_ENV, "PROVENANCE": "{commit: abc"})
    assert "JSON object of strings" in error_of({**REQUIRED_ENV, "PROVENANCE": "[1]"})
    other = json.dumps({"buildNumber": "20261127.9"})
    assert "does not match BUILD_NUMBER" in error_of({**REQUIRED_ENV, "PROVENANCE": other})


def test_azure_uris_need_a_credential_variable():
    message = error_of({**REQUIRED_ENV, "MODELS_URI": "az://models/prod"})
    assert "MODELS_URI='az://models/prod'" in message
    assert "AZURE_STORAGE_CONNECTION_STRING" in message
    assert "AZURE_STORAGE_ACCOUNT_URL" in message
    with_identity = {
        **REQUIRED_ENV,
        "MODELS_URI": "az://models/prod",
        "AZURE_STORAGE_ACCOUNT_URL": "https://example.blob.core.windows.net",
    }
    assert config.load(with_identity).models_uri == "az://models/prod"
