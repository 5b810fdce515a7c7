"""The scoring environment contract: defaults, every invalid variable named, exit code 2."""

import os
import subprocess
import sys
from collections.abc import Mapping

import pytest

from mlrelease.errors import InputError
from scoring import settings


class RecordingEnv(Mapping):
    def __init__(self, values):
        self.values = values
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return self.values[key]

    def get(self, key, default=None):
        self.read.add(key)
        return self.values.get(key, default)

    def __iter__(self):
        return iter(self.values)

    def __len__(self):
        return len(self.values)


def test_defaults_follow_the_contract():
    s = settings.from_environ({"MODEL_URI": "/models/recommender/v20261127-3"})
    assert (s.host, s.port, s.workers, s.threads) == ("0.0.0.0", 8080, 2, 1)
    assert (s.max_k, s.max_pairs, s.max_body_bytes, s.timeout) == (100, 1000, 65536, 30)
    assert s.model_version == ""
    assert s.expected_version == "v20261127-3"


def test_explicit_values_are_used():
    s = settings.from_environ(
        {"MODEL_URI": "az://models/r/v1/", "MODEL_VERSION": "v1", "PORT": "9000", "MAX_K": "5"}
    )
    assert (s.model_version, s.expected_version, s.port, s.max_k) == ("v1", "v1", 9000, 5)


def test_every_variable_read_is_listed_in_env_variables():
    env = RecordingEnv({"MODEL_URI": "/m/r/v1"})
    settings.from_environ(env)
    assert env.read <= set(settings.ENV_VARIABLES)
    assert {"MODEL_URI", "MODEL_VERSION", "PORT", "WORKERS", "MAX_K"} <= env.read


def test_all_invalid_variables_are_reported_together():
    with pytest.raises(InputError) as caught:
        settings.from_environ({"PORT": "http", "MAX_K": "0", "WORKERS": "2.5"})
    message = str(caught.value)
    for expected in ("MODEL_URI is not set", "PORT='http'", "MAX_K=0 is out of range", "WORKERS"):
        assert expected in message


def test_python_m_scoring_exits_2_naming_the_bad_variables():
    env = {k: v for k, v in os.environ.items() if k not in settings.ENV_VARIABLES}
    env.update({"MODEL_URI": "/nowhere/r/v1", "MAX_PAIRS": "lots"})
    result = subprocess.run(
        [sys.executable, "-m", "scoring"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "MAX_PAIRS='lots' is not a whole number" in result.stderr
    assert "Traceback" not in result.stderr


def test_python_m_scoring_exits_2_for_a_store_it_cannot_open():
    env = {k: v for k, v in os.environ.items() if k not in settings.ENV_VARIABLES}
    env["MODEL_URI"] = "s3://models/recommender/v1"
    result = subprocess.run(
        [sys.executable, "-m", "scoring"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "unsupported scheme 's3'" in result.stderr
