"""Quality on real data: the default hyperparameters on MovieLens 100k (ratings >= 4).

MovieLens is read at test time from the recbole package; the full comparison with
implicit's ALS and LightFM's published figures is bench/movielens_quality.py.
"""

import time

import pytest

from mlrelease.sampledata import write_movielens_export
from training import model
from training.config import default_hyperparameters
from training.data import read_interactions
from training.run import interaction_matrix
from training.split import RANDOM, split_mask


@pytest.mark.slow
def test_default_hyperparameters_reach_precision_at_10_of_0_20(tmp_path):
    started = time.monotonic()
    write_movielens_export(tmp_path)
    data = read_interactions(str(tmp_path), min_rating=4)
    assert (len(data.users), data.n_users) == (55_375, 942)
    is_test, _ = split_mask(data.users, None, test_fraction=0.2, seed=42, method=RANDOM)
    shape = (data.n_users, data.n_items)
    train = interaction_matrix(data.users[~is_test], data.items[~is_test], shape)
    test = interaction_matrix(data.users[is_test], data.items[is_test], shape)
    fitted = model.fit(train, default_hyperparameters(threads=2))
    metrics = model.evaluate(model.Factors.from_lightfm(fitted), train, test, k=10)
    print(f"MovieLens 100k: {metrics}, {time.monotonic() - started:.1f}s")
    assert metrics.precision_at_k >= 0.20
    assert metrics.auc > 0.85
