"""One training run, start to finish: the body of the training Job.

config -> refuse a used version folder -> read the export -> split -> fit -> evaluate ->
quality gate -> publish. Every check that can fail cheaply runs before the expensive
fit, and nothing is written to the model store unless the model passed the gate, so a
failed run leaves the store exactly as it was.

Exit codes: 0 published; 2 bad configuration or input data (including too few users with
held-out interactions to judge the model); 1 the quality gate failed or storage failed.
"""

import logging
import time
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from mlrelease.errors import InputError, MlreleaseError
from mlrelease.store import artifact
from training import config as config_mod
from training import data as data_mod
from training import export, model, split

log = logging.getLogger("training")


class QualityGateError(MlreleaseError):
    """The model ranks held-out interactions worse than MIN_PRECISION_AT_K allows."""


def check_enough_test_users(test: sp.csr_matrix, minimum: int, target: str) -> int:
    """The number of users with held-out interactions; InputError below `minimum`.

    Checked before the fit, as it needs only the split: a quality gate averaged over a
    handful of users would pass or fail by chance, so it refuses to judge at all.
    """
    users = int(np.count_nonzero(np.diff(test.indptr)))
    if users < minimum:
        raise InputError(
            f"too little held-out data to judge the model: {users} users have held-out "
            f"interactions, fewer than MIN_TEST_USERS={minimum}; nothing was published to "
            f"{target}. Train on a larger export, or lower MIN_TEST_USERS (chart value "
            "evaluation.minTestUsers) for a data set that is small by design"
        )
    log.info("%d users with held-out interactions (MIN_TEST_USERS=%d)", users, minimum)
    return users


def main(environ: Mapping[str, str]) -> int:
    """Run the training Job with the given environment; return the process exit code."""
    try:
        manifest = train_and_publish(environ)
    except MlreleaseError as error:
        log.error("%s", error)
        return error.exit_code
    except OSError as error:
        log.error("storage or file system failure: %s", error)
        return 1
    metrics = manifest["metrics"]
    log.info(
        "published %s: precision@%d=%.4f recall@%d=%.4f auc=%.4f",
        manifest["versionId"],
        metrics["k"],
        metrics["precisionAtK"],
        metrics["k"],
        metrics["recallAtK"],
        metrics["auc"],
    )
    return 0


def train_and_publish(environ: Mapping[str, str]) -> dict:
    """The whole run; returns the published manifest or raises MlreleaseError."""
    config = config_mod.load(environ)
    target = artifact.version_uri(config.models_uri, config.model_name, config.model_version)
    log.info("training %s %s into %s", config.model_name, config.model_version, target)
    artifact.ensure_empty(target)

    data = data_mod.read_interactions(config.data_uri, min_rating=config.min_rating)
    log.info(
        "read %d rows from %d files: %d interactions, %d users, %d items",
        data.rows_read,
        len(data.snapshot),
        len(data.users),
        data.n_users,
        data.n_items,
    )
    hp = config.hyperparameters
    is_test, method = split.split_mask(
        data.users, data.timestamps, test_fraction=config.test_fraction, seed=hp.seed
    )
    shape = (data.n_users, data.n_items)
    train = interaction_matrix(data.users[~is_test], data.items[~is_test], shape)
    test = interaction_matrix(data.users[is_test], data.items[is_test], shape)
    log.info("%s split: %d training, %d held-out interactions", method, train.nnz, test.nnz)
    check_enough_test_users(test, config.min_test_users, target)

    started = time.monotonic()
    fitted = model.fit(train, hp)
    train_seconds = time.monotonic() - started
    factors = model.Factors.from_lightfm(fitted)
    metrics = model.evaluate(factors, train, test, config.eval_k)
    log.info(
        "held-out: precision@%d=%.4f recall@%d=%.4f auc=%.4f over %d users (fit %.1fs)",
        metrics.k,
        metrics.precision_at_k,
        metrics.k,
        metrics.recall_at_k,
        metrics.auc,
        metrics.test_users,
        train_seconds,
    )
    if metrics.precision_at_k < config.min_precision_at_k:
        raise QualityGateError(
            f"quality gate failed: precision@{metrics.k} is {metrics.precision_at_k:.4f}, "
            f"below MIN_PRECISION_AT_K={config.min_precision_at_k:g}; nothing was published "
            f"to {target}. Check the input data or tune the hyperparameters"
        )

    seen = interaction_matrix(data.users, data.items, shape)
    files = export.model_files(factors, seen, data)
    document = export.manifest(config, data, metrics, train_seconds=train_seconds, split=method)
    return artifact.publish(target, files, document)


def interaction_matrix(
    users: np.ndarray, items: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """A binary users x items CSR matrix (pairs are already unique)."""
    values = np.ones(len(users), dtype=np.float32)
    return sp.coo_matrix((values, (users, items)), shape=shape).tocsr()
