"""The k-best selection both scoring paths share, on its sampled and its plain branch."""

import numpy as np
import pytest

from scoring.topk import SAMPLE_MIN_ITEMS, best_of


@pytest.mark.parametrize("n", [SAMPLE_MIN_ITEMS // 4, SAMPLE_MIN_ITEMS + 7_000])
@pytest.mark.parametrize("k", [1, 10, 300])
@pytest.mark.parametrize("margin", [0.0, 0.05])
def test_every_score_within_the_margin_of_the_kth_best_is_kept(n, k, margin):
    rng = np.random.default_rng(n + k)
    # Rounded: many scores tie, also with the k-th best; some are -inf (seen items).
    scores = np.round(rng.normal(size=n), 2).astype(np.float32)
    scores[rng.choice(n, n // 10, replace=False)] = -np.inf
    kth = np.sort(scores)[::-1][k - 1]
    expected = np.flatnonzero(scores >= kth - np.float32(margin))
    np.testing.assert_array_equal(best_of(scores, k, margin), expected)


def test_k_of_at_least_every_score_keeps_every_index():
    np.testing.assert_array_equal(best_of(np.zeros(5, np.float32), 5), np.arange(5))
