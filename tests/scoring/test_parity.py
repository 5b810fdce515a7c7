"""The served model ranks exactly as LightFM does, and refuses files that do not verify."""

import io
import json
from pathlib import Path

import numpy as np
import pytest

from mlrelease.store.artifact import ModelCorruptError, ModelNotReadyError
from scoring import model


@pytest.fixture(scope="module")
def loaded(model_uri):
    return model.load(model_uri)


def test_top_10_matches_lightfm_predict_for_every_user(loaded, lightfm_twin):
    rec = loaded.recommender
    identical = 0
    for user in range(rec.n_users):
        ours = rec.recommend(user, 10)
        theirs, scores = lightfm_twin.top_k(user, 10)
        # Same items in the same order; float32 sums in a different order may only swap
        # items whose LightFM scores are equal to within rounding.
        np.testing.assert_allclose(scores[ours.items], scores[theirs], rtol=0, atol=1e-5)
        np.testing.assert_allclose(ours.scores, scores[ours.items], rtol=0, atol=1e-5)
        identical += ours.items == theirs.tolist()
    assert identical >= rec.n_users - 2


def test_pair_scores_equal_lightfm_predict(loaded, lightfm_twin):
    rng = np.random.default_rng(1)
    users = rng.integers(0, len(loaded.user_ids), 500).astype(np.int32)
    items = rng.integers(0, len(loaded.item_ids), 500).astype(np.int32)
    np.testing.assert_allclose(
        loaded.recommender.score_pairs(users, items),
        lightfm_twin.model.predict(users, items),
        atol=1e-5,
    )


def test_seen_items_match_the_training_interactions(loaded):
    # Every user in the synthetic export interacted with items; the model must know them.
    seen_counts = [loaded.recommender.seen(u).size for u in range(loaded.recommender.n_users)]
    assert sum(seen_counts) > 0
    assert loaded.version == loaded.manifest["versionId"]


def test_a_flipped_byte_is_refused_naming_the_file(model_uri, tmp_path, copy_published):
    target = tmp_path / Path(model_uri).name
    copy_published(model_uri, target)
    path = target / "item_embeddings.npy"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelCorruptError, match=r"item_embeddings\.npy"):
        model.load(str(target))


def test_an_unpublished_version_is_not_ready(model_uri, tmp_path, copy_published):
    target = tmp_path / Path(model_uri).name
    copy_published(model_uri, target, complete=False)
    with pytest.raises(ModelNotReadyError):
        model.load(str(target))


def test_a_version_other_than_model_version_is_refused(model_uri):
    with pytest.raises(ModelCorruptError, match="MODEL_VERSION is 'v999'"):
        model.load(model_uri, expected_version="v999")


def read_files(uri: str) -> dict:
    return {p.name: p.read_bytes() for p in Path(uri).iterdir()}


def _replace(files: dict, name: str, array: np.ndarray) -> dict:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return {**files, name: buffer.getvalue()}


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("item_biases.npy", lambda a: a[:-1], "expected float32"),
        ("user_embeddings.npy", lambda a: a.astype(np.float64), "found float64"),
        ("seen_indices.npy", lambda a: a + 10_000, "refers to items outside"),
        ("seen_indptr.npy", lambda a: a[::-1].copy(), "not a valid CSR row pointer"),
        ("item_embeddings.npy", lambda a: np.full_like(a, np.nan), "NaN or infinite"),
    ],
)
def test_arrays_that_disagree_are_refused(model_uri, name, change, message):
    files = read_files(model_uri)
    manifest = json.loads(files["manifest.json"])
    original = np.load(io.BytesIO(files[name]))
    with pytest.raises(ModelCorruptError, match=message):
        model.build(model_uri, manifest, _replace(files, name, change(original)))


def test_pickled_arrays_are_never_loaded(model_uri):
    files = read_files(model_uri)
    buffer = io.BytesIO()
    np.save(buffer, np.array([object()], dtype=object), allow_pickle=True)
    files["item_biases.npy"] = buffer.getvalue()
    with pytest.raises(ModelCorruptError, match=r"not a readable \.npy array"):
        model.build(model_uri, {}, files)
