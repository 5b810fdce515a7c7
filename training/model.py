"""Fit LightFM and measure how well it ranks the held-out interactions.

Fitting runs one epoch at a time so a long run shows progress: a progress bar when stderr
is a terminal, one log line per epoch otherwise (a Kubernetes Job's log).

Evaluation works on plain factor arrays (score = user . item + user bias + item bias), the
same arrays the scoring service loads, so the metrics describe exactly what is served and
the same code can measure other factor models (the benchmark compares implicit's ALS).
"""

import dataclasses
import logging
import sys
import time

import numpy as np
import scipy.sparse as sp
from lightfm import LightFM

from mlrelease.errors import MlreleaseError
from training.config import Hyperparameters

log = logging.getLogger(__name__)

# Score matrix cells per evaluation block: a few arrays of this many floats live at once,
# so memory stays near 100 MB whatever the catalogue size.
_EVAL_CELLS = 4_000_000


@dataclasses.dataclass(frozen=True)
class Factors:
    """A factor model as arrays: score(u, i) = user[u] . item[i] + user_bias[u] + item_bias[i]."""

    user_embeddings: np.ndarray
    user_biases: np.ndarray
    item_embeddings: np.ndarray
    item_biases: np.ndarray

    @classmethod
    def from_lightfm(cls, model: LightFM) -> "Factors":
        """LightFM without side features: representations are the embeddings themselves."""
        return cls(
            user_embeddings=np.ascontiguousarray(model.user_embeddings, dtype=np.float32),
            user_biases=np.ascontiguousarray(model.user_biases, dtype=np.float32),
            item_embeddings=np.ascontiguousarray(model.item_embeddings, dtype=np.float32),
            item_biases=np.ascontiguousarray(model.item_biases, dtype=np.float32),
        )

    def scores(self, users: np.ndarray) -> np.ndarray:
        """Scores of every item for each of `users`, shape (len(users), n_items)."""
        return (
            self.user_embeddings[users] @ self.item_embeddings.T
            + self.user_biases[users, None]
            + self.item_biases[None, :]
        )


@dataclasses.dataclass(frozen=True)
class Metrics:
    """Ranking quality on held-out interactions, averaged over users who have some."""

    k: int
    precision_at_k: float
    recall_at_k: float
    auc: float
    test_users: int

    def to_dict(self) -> dict:
        """camelCase keys for the manifest."""
        return {
            "k": self.k,
            "precisionAtK": round(self.precision_at_k, 6),
            "recallAtK": round(self.recall_at_k, 6),
            "auc": round(self.auc, 6),
            "testUsers": self.test_users,
        }


def fit(train: sp.csr_matrix, hyperparameters: Hyperparameters) -> LightFM:
    """Fit LightFM on a users x items interaction matrix, reporting progress per epoch."""
    hp = hyperparameters
    model = LightFM(
        no_components=hp.components,
        loss=hp.loss,
        learning_rate=hp.learning_rate,
        item_alpha=hp.item_alpha,
        user_alpha=hp.user_alpha,
        max_sampled=hp.max_sampled,
        random_state=hp.seed,
    )
    interactions = train.tocoo()
    bar = _progress_bar(hp.epochs)
    started = time.monotonic()
    try:
        for epoch in range(1, hp.epochs + 1):
            model.fit_partial(interactions, epochs=1, num_threads=hp.threads)
            if not np.all(np.isfinite(model.item_embeddings)):
                raise MlreleaseError(
                    f"training diverged in epoch {epoch} (non-finite weights); "
                    "lower LEARNING_RATE or raise ITEM_ALPHA/USER_ALPHA"
                )
            if bar is not None:
                bar.update(1)
            else:
                log.info(
                    "epoch %d/%d done (%.1fs elapsed)",
                    epoch,
                    hp.epochs,
                    time.monotonic() - started,
                )
    finally:
        if bar is not None:
            bar.close()
    return model


def _progress_bar(epochs: int):
    """A tqdm bar on an interactive terminal; None for logs (no carriage-return noise)."""
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=epochs, desc="training", unit="epoch", file=sys.stderr)


def evaluate(factors: Factors, train: sp.csr_matrix, test: sp.csr_matrix, k: int) -> Metrics:
    """Precision@k, recall@k and AUC on `test`, never ranking a user's training items.

    Items a user has in `train` are excluded from the candidates (they would be filtered
    out when serving too). Precision divides hits by k (as LightFM's precision_at_k does),
    recall by the user's number of held-out items; AUC is the probability that a held-out
    item outranks a candidate the user did not interact with.
    """
    train, test = train.tocsr(), test.tocsr()
    test_counts = np.diff(test.indptr)
    users = np.flatnonzero(test_counts)
    n_items = test.shape[1]
    step = max(1, _EVAL_CELLS // max(n_items, 1))
    precision, recall, auc = [], [], []
    for start in range(0, len(users), step):
        block = users[start : start + step]
        scores = factors.scores(block).astype(np.float64)
        seen = train[block]
        rows = np.repeat(np.arange(len(block)), np.diff(seen.indptr))
        scores[rows, seen.indices] = -np.inf
        top = np.argpartition(-scores, min(k, n_items - 1), axis=1)[:, :k]
        held = test[block]
        relevant = held.toarray().astype(bool)
        hits = np.take_along_axis(relevant, top, axis=1).sum(axis=1)
        n_test = test_counts[block]
        precision.append(hits / k)
        recall.append(hits / n_test)
        # Rank of every item (1 = lowest); training items hold the lowest n_seen ranks.
        ranks = np.empty_like(scores)
        order = np.argsort(scores, axis=1, kind="stable")
        np.put_along_axis(ranks, order, np.arange(1, n_items + 1, dtype=np.float64), axis=1)
        n_seen = np.diff(seen.indptr)
        n_negative = n_items - n_seen - n_test
        pos_rank_sum = (ranks * relevant).sum(axis=1) - n_seen * n_test
        with np.errstate(divide="ignore", invalid="ignore"):
            user_auc = (pos_rank_sum - n_test * (n_test + 1) / 2) / (n_test * n_negative)
        auc.append(np.where(n_negative > 0, user_auc, np.nan))
    auc_all = np.concatenate(auc) if auc else np.array([])
    return Metrics(
        k=k,
        precision_at_k=float(np.mean(np.concatenate(precision))) if precision else 0.0,
        recall_at_k=float(np.mean(np.concatenate(recall))) if recall else 0.0,
        auc=float(np.nanmean(auc_all)) if np.any(np.isfinite(auc_all)) else 0.5,
        test_users=len(users),
    )
