"""Fitting, evaluation and export: the served arrays are the model LightFM trained."""

import io
import json
import logging

import numpy as np
import pytest
import scipy.sparse as sp
from lightfm.evaluation import auc_score, precision_at_k, recall_at_k

from mlrelease.store.modelfiles import FILE_NAMES
from training import export, model
from training.config import default_hyperparameters
from training.data import read_interactions
from training.run import interaction_matrix
from training.split import split_mask

FAST = {"components": 8, "epochs": 10, "threads": 1}


@pytest.fixture
def dataset(export):
    """(interactions, train, test) from the small synthetic export."""
    data = read_interactions(str(export))
    is_test, _ = split_mask(data.users, data.timestamps, test_fraction=0.2, seed=0)
    shape = (data.n_users, data.n_items)
    train = interaction_matrix(data.users[~is_test], data.items[~is_test], shape)
    test = interaction_matrix(data.users[is_test], data.items[is_test], shape)
    return data, train, test


def test_evaluation_agrees_with_lightfm_and_beats_random_by_far(dataset):
    data, train, test = dataset
    fitted = model.fit(train, default_hyperparameters(**FAST))
    metrics = model.evaluate(model.Factors.from_lightfm(fitted), train, test, k=5)
    ours = (metrics.precision_at_k, metrics.recall_at_k, metrics.auc)
    theirs = (
        precision_at_k(fitted, test, train_interactions=train, k=5).mean(),
        recall_at_k(fitted, test, train_interactions=train, k=5).mean(),
        auc_score(fitted, test, train_interactions=train).mean(),
    )
    assert ours == pytest.approx(theirs, abs=1e-5)
    assert metrics.test_users == np.count_nonzero(np.diff(test.indptr))
    # Random ranking hits a held-out item with probability ~ held-out / candidates.
    chance = test.nnz / metrics.test_users / (data.n_items - train.nnz / data.n_users)
    assert metrics.precision_at_k > 3 * chance
    assert metrics.auc > 0.7


def test_evaluation_never_recommends_training_items():
    train = sp.csr_matrix(np.array([[1, 0, 0, 0]], dtype=np.float32))
    test = sp.csr_matrix(np.array([[0, 0, 1, 0]], dtype=np.float32))
    # Item 0 scores best but is a training item; item 2 is next.
    factors = model.Factors(
        user_embeddings=np.ones((1, 1), np.float32),
        user_biases=np.zeros(1, np.float32),
        item_embeddings=np.array([[9], [1], [5], [0]], np.float32),
        item_biases=np.zeros(4, np.float32),
    )
    metrics = model.evaluate(factors, train, test, k=1)
    assert (metrics.precision_at_k, metrics.recall_at_k, metrics.auc) == (1.0, 1.0, 1.0)


def test_progress_is_one_log_line_per_epoch_without_a_terminal(dataset, caplog, monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())
    with caplog.at_level(logging.INFO, logger="training.model"):
        model.fit(dataset[1], default_hyperparameters(**FAST))
    lines = [r.getMessage() for r in caplog.records if r.name == "training.model"]
    assert [line.split(" (")[0] for line in lines] == [f"epoch {n}/10 done" for n in range(1, 11)]


def test_progress_is_a_bar_on_a_terminal(dataset, caplog, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with caplog.at_level(logging.INFO, logger="training.model"):
        model.fit(dataset[1], default_hyperparameters(**FAST))
    assert "training: 100%" in terminal.getvalue() and "10/10" in terminal.getvalue()
    assert not [r for r in caplog.records if r.name == "training.model"]


def test_exported_arrays_reproduce_lightfm_predict_ranking(dataset):
    data, train, _ = dataset
    fitted = model.fit(train, default_hyperparameters(**FAST))
    seen = interaction_matrix(data.users, data.items, (data.n_users, data.n_items))
    files = export.model_files(model.Factors.from_lightfm(fitted), seen, data)
    assert set(files) == set(FILE_NAMES)
    arrays = {
        name: np.load(io.BytesIO(blob), allow_pickle=False)
        for name, blob in files.items()
        if name.endswith(".npy")
    }
    dtypes = {name: array.dtype for name, array in arrays.items()}
    assert dtypes == {
        "user_embeddings.npy": np.float32,
        "user_biases.npy": np.float32,
        "item_embeddings.npy": np.float32,
        "item_biases.npy": np.float32,
        "seen_indptr.npy": np.int64,
        "seen_indices.npy": np.int32,
        "item_popularity.npy": np.float32,
    }
    user_ids = json.loads(files["user_ids.json"])
    item_ids = json.loads(files["item_ids.json"])
    assert (user_ids, item_ids) == (data.user_ids, data.item_ids)
    assert arrays["user_embeddings.npy"].shape == (len(user_ids), 8)
    assert arrays["item_embeddings.npy"].shape == (len(item_ids), 8)

    all_items = np.arange(len(item_ids), dtype=np.int32)
    for user in (0, len(user_ids) // 2, len(user_ids) - 1):
        expected = fitted.predict(user, all_items)
        scores = (
            arrays["item_embeddings.npy"] @ arrays["user_embeddings.npy"][user]
            + arrays["user_biases.npy"][user]
            + arrays["item_biases.npy"]
        )
        assert scores == pytest.approx(expected, rel=1e-4, abs=1e-4)
        assert list(np.argsort(-scores)[:10]) == list(np.argsort(-expected)[:10])

    rebuilt = sp.csr_matrix(
        (
            np.ones(len(arrays["seen_indices.npy"])),
            arrays["seen_indices.npy"],
            arrays["seen_indptr.npy"],
        ),
        shape=seen.shape,
    )
    assert (rebuilt != seen).nnz == 0
    assert np.array_equal(arrays["item_popularity.npy"], np.bincount(data.items))
