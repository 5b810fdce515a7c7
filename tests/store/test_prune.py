"""`model list` and `model prune` on a local folder and on Azurite: every edge of deletion."""

import json
from pathlib import Path

import pytest
from support.cli import run_mlrelease

from mlrelease.store import artifact, catalog, open_store

FILES = {"user_embeddings.npy": b"\x93NUMPY" + bytes(100), "item_ids.json": b'["i1"]'}


def publish(models_uri, version, day):
    manifest = {
        "modelName": "recommender",
        "versionId": version,
        "buildNumber": f"202611{day:02d}.1",
        "createdAt": f"2026-11-{day:02d}T10:00:00Z",
        "metrics": {"k": 10, "precisionAtK": 0.25, "auc": 0.9},
    }
    artifact.publish(artifact.version_uri(models_uri, "recommender", version), FILES, manifest)


@pytest.fixture
def store(models_uri):
    """Five complete versions (v1 oldest, published out of order) and one unfinished."""
    for version, day in (("v3", 3), ("v1", 1), ("v2", 2), ("v4", 4), ("v5", 5)):
        publish(models_uri, version, day)
    unfinished = open_store(artifact.version_uri(models_uri, "recommender", "v0-training"))
    unfinished.write_once(artifact.MANIFEST, b'{"createdAt": "2026-11-06T00:00:00Z"}')
    return models_uri


@pytest.fixture
def routing(tmp_path):
    path = tmp_path / "routing.yaml"
    path.write_text(
        "host: scoring\nversions:\n- {name: v2, weight: 0}\n- {name: v5, weight: 100}\n"
    )
    return path


def model(*args, cli_env):
    return run_mlrelease("model", *args, env=cli_env)


def versions_left(models_uri):
    infos = catalog.list_versions(catalog.model_store(models_uri, "recommender"))
    return [info.version for info in infos]


def test_list_shows_build_date_metrics_and_routing(store, routing, cli_env):
    result = model(
        "list", "--models-uri", store, "--model-name", "recommender", "--routing", routing,
        cli_env=cli_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["version", "status", "build", "created", "metrics", "routing"]
    assert [line.split()[0] for line in lines[1:]] == ["v1", "v2", "v3", "v4", "v5", "v0-training"]
    assert "20261102.1" in lines[2] and "2026-11-02T10:00:00" in lines[2]
    assert lines[2].rstrip().endswith("weight 0") and lines[5].rstrip().endswith("weight 100")
    assert "precision@10 0.25" in lines[1] and lines[1].rstrip().endswith("-")
    assert "incomplete" in lines[6]


def test_list_json(store, cli_env):
    result = model(
        "list", "--models-uri", store, "--model-name", "recommender", "--json", cli_env=cli_env
    )
    rows = json.loads(result.stdout)
    assert rows[0]["version"] == "v1" and rows[0]["metrics"]["auc"] == 0.9


def test_prune_deletes_only_complete_unreferenced_versions_beyond_the_newest(
    store, routing, cli_env, backend
):
    result = model(
        "prune", "--models-uri", store, "--model-name", "recommender",
        "--routing", routing, "--keep", "2", cli_env=cli_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # v4, v5 newest; v2 referenced at weight 0; v0-training unfinished.
    assert result.stdout.splitlines() == ["deleted v1", "deleted v3"]
    assert versions_left(store) == ["v2", "v4", "v5", "v0-training"]
    if backend[0] == "local":
        assert sorted(p.name for p in (Path(store) / "recommender").iterdir()) == [
            "v0-training",
            "v2",
            "v4",
            "v5",
        ]
    assert "keep    v2: referenced by the routing" in result.stderr
    assert "keep    v0-training: incomplete" in result.stderr


def test_prune_dry_run_deletes_nothing(store, routing, cli_env):
    result = model(
        "prune", "--models-uri", store, "--model-name", "recommender",
        "--routing", routing, "--keep", "1", "--dry-run", cli_env=cli_env,
    )  # fmt: skip
    assert result.stdout.splitlines() == ["would delete v1", "would delete v3", "would delete v4"]
    assert len(versions_left(store)) == 6


def test_prune_refuses_a_routing_that_names_versions_the_store_lacks(store, tmp_path, cli_env):
    other = tmp_path / "other.yaml"
    other.write_text("host: scoring\nversions:\n- {name: v9, weight: 100}\n")
    result = model(
        "prune", "--models-uri", store, "--model-name", "recommender",
        "--routing", other, "--keep", "1", cli_env=cli_env,
    )  # fmt: skip
    assert result.returncode == 2
    assert "routes to v9, which" in result.stderr and "refusing to prune" in result.stderr
    assert len(versions_left(store)) == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--keep", "0"], "--keep 0 must be at least 1"),
        ([], "the following arguments are required: --keep"),
    ],
)
def test_prune_bad_input_exits_2(args, message, store, routing, cli_env):
    result = model(
        "prune", "--models-uri", store, "--model-name", "recommender", "--routing", routing,
        *args, cli_env=cli_env,
    )  # fmt: skip
    assert result.returncode == 2
    assert message in result.stderr
    assert len(versions_left(store)) == 6


def test_a_half_deleted_version_reads_as_not_ready(models_uri):
    publish(models_uri, "v1", 1)
    folder = open_store(artifact.version_uri(models_uri, "recommender", "v1"))
    folder.delete(artifact.COMPLETE)  # the first deletion catalog.delete_version makes
    with pytest.raises(artifact.ModelNotReadyError):
        artifact.verify(folder)
