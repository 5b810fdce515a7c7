"""Top-k logic of the recommender against a brute-force ranking of the same arrays.

Every test runs twice: on the BLAS path small catalogues take, and on the int8-narrowed
path large ones take (the size bar lowered to 0).
"""

import numpy as np
import pytest

from scoring import recommender
from scoring.recommender import Recommender

# Large enough that the sampled bounds of both paths narrow the search.
MANY = 1024


@pytest.fixture(autouse=True, params=["blas", "quantized"])
def scan_path(request, monkeypatch):
    if request.param == "quantized":
        monkeypatch.setattr(recommender, "QUANTIZED_MIN_ITEMS", 0)
    return request.param


def make(n_users=30, n_items=50, d=6, seen_per_user=5, seed=0, popularity=None):
    rng = np.random.default_rng(seed)
    seen = [np.sort(rng.choice(n_items, seen_per_user, replace=False)) for _ in range(n_users)]
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(s) for s in seen])
    arrays = dict(
        user_embeddings=rng.normal(size=(n_users, d)).astype(np.float32),
        user_biases=rng.normal(size=n_users).astype(np.float32),
        item_embeddings=rng.normal(size=(n_items, d)).astype(np.float32),
        item_biases=rng.normal(size=n_items).astype(np.float32),
        seen_indptr=indptr,
        seen_indices=np.concatenate(seen).astype(np.int32),
        item_popularity=(
            rng.integers(0, 20, n_items).astype(np.float32) if popularity is None else popularity
        ),
    )
    return Recommender(**arrays), arrays


def integer_scores(arrays):
    """Small integer factors and no biases: scores are exact integers, so many items tie."""
    return {
        **arrays,
        "user_embeddings": np.round(arrays["user_embeddings"]),
        "item_embeddings": np.round(arrays["item_embeddings"]),
        "item_biases": np.zeros_like(arrays["item_biases"]),
        "user_biases": np.zeros_like(arrays["user_biases"]),
    }


def brute_force(arrays, user, k):
    a = arrays
    scores = (
        a["item_embeddings"].astype(np.float64) @ a["user_embeddings"][user]
        + a["item_biases"]
        + a["user_biases"][user]
    )
    start, end = a["seen_indptr"][user], a["seen_indptr"][user + 1]
    scores[a["seen_indices"][start:end]] = -np.inf
    order = np.argsort(-scores, kind="stable")
    order = order[np.isfinite(scores[order])]
    return order[:k], scores[order[:k]]


@pytest.mark.parametrize("k", [1, 3, 10, 45])
def test_top_k_matches_a_full_sort_with_seen_items_removed(k):
    rec, arrays = make()
    for user in range(rec.n_users):
        got = rec.recommend(user, k)
        items, scores = brute_force(arrays, user, k)
        assert got.items == items.tolist()
        np.testing.assert_allclose(got.scores, scores, rtol=1e-5, atol=1e-5)


def test_seen_items_are_never_recommended():
    rec, _ = make(seen_per_user=20)
    for user in range(rec.n_users):
        assert not set(rec.recommend(user, 30).items) & set(rec.seen(user).tolist())


def test_k_above_the_unseen_items_returns_every_unseen_item_once():
    rec, _ = make(n_items=12, seen_per_user=5)
    got = rec.recommend(0, 100)
    assert sorted(got.items) == sorted(set(range(12)) - set(rec.seen(0).tolist()))
    assert np.all(np.diff(got.scores) <= 0)


def test_a_user_who_has_seen_everything_gets_an_empty_list():
    rec, _ = make(n_items=8, seen_per_user=8)
    assert rec.recommend(3, 5) == ([], [])


# 20 items: a few candidates, sorted in Python; 2000: every item ties, sorted by numpy.
@pytest.mark.parametrize("n_items", [20, 2000])
def test_equal_scores_come_in_item_order(n_items):
    _, arrays = make(n_items=n_items, seen_per_user=0)
    flat = Recommender(
        **{
            **arrays,
            "item_embeddings": np.zeros_like(arrays["item_embeddings"]),
            "item_biases": np.zeros_like(arrays["item_biases"]),
            "user_biases": np.zeros_like(arrays["user_biases"]),
        }
    )
    assert flat.recommend(0, 5).items == [0, 1, 2, 3, 4]


def test_popularity_fallback_is_most_popular_first_ties_by_index():
    popularity = np.array([3, 9, 9, 1, 0, 7], dtype=np.float32)
    rec, _ = make(n_items=6, seen_per_user=1, popularity=popularity)
    got = rec.popular(4)
    assert got.items == [1, 2, 5, 0]
    assert got.scores == [9, 9, 7, 3]
    assert len(rec.popular(100).items) == 6


def test_pair_scores_are_dot_plus_both_biases():
    rec, a = make()
    users = np.array([0, 5, 5, 29])
    items = np.array([49, 0, 7, 7])
    expected = (
        np.sum(a["user_embeddings"][users] * a["item_embeddings"][items], axis=1)
        + a["user_biases"][users]
        + a["item_biases"][items]
    )
    np.testing.assert_allclose(rec.score_pairs(users, items), expected, rtol=1e-5)


def test_duplicate_seen_entries_count_once_when_capping_k():
    _, arrays = make(n_users=2, n_items=4, seen_per_user=0)
    rec = Recommender(
        **{
            **arrays,
            "seen_indptr": np.array([0, 3, 3], dtype=np.int64),
            "seen_indices": np.array([1, 1, 2], dtype=np.int32),
        }
    )
    assert sorted(rec.recommend(0, 10).items) == [0, 3]
    assert len(rec.recommend(1, 10).items) == 4


@pytest.mark.parametrize("k", [1, 10, 100])
def test_top_k_over_many_items_matches_a_full_sort(k):
    rec, arrays = make(n_users=5, n_items=5000, seen_per_user=300, seed=3)
    for user in range(rec.n_users):
        items, _ = brute_force(arrays, user, k)
        assert rec.recommend(user, k).items == items.tolist()


def test_many_tied_scores_still_come_in_item_order():
    _, arrays = make(n_users=3, n_items=4000, seen_per_user=10, seed=4)
    # Small integer factors and no biases: scores are exact integers, so the k-th best
    # score is shared by many items and only the tie rule decides which are returned.
    tied = integer_scores(arrays)
    rec = Recommender(**tied)
    for user in range(3):
        items, scores = brute_force(tied, user, 25)
        all_scores = rec.score_pairs(np.full(4000, user), np.arange(4000))
        assert np.sum(all_scores == scores[-1]) > np.sum(scores == scores[-1])  # tie at the cut
        assert rec.recommend(user, 25).items == items.tolist()


@pytest.mark.parametrize("k", [1, 10, 100, MANY // 2])
def test_a_catalogue_of_many_items_matches_a_full_sort(k):
    n_items = 40 * MANY + 7
    rec, arrays = make(n_users=4, n_items=n_items, d=8, seen_per_user=500, seed=5)
    for user in range(rec.n_users):
        items, scores = brute_force(arrays, user, k)
        got = rec.recommend(user, k)
        assert got.items == items.tolist()
        np.testing.assert_allclose(got.scores, scores, rtol=1e-5, atol=1e-5)


def test_items_in_rising_score_order_match_a_full_sort():
    # One factor: every item's score differs from its neighbours' by less than an int8
    # step, so the exact rescoring alone orders the best.
    _, arrays = make(n_users=1, n_items=10 * MANY, d=1, seen_per_user=30, seed=7)
    rising = {
        **arrays,
        "user_embeddings": np.ones_like(arrays["user_embeddings"]),
        "item_embeddings": np.linspace(-1, 1, 10 * MANY, dtype=np.float32)[:, None],
        "item_biases": np.zeros_like(arrays["item_biases"]),
    }
    rec = Recommender(**rising)
    items, _ = brute_force(rising, 0, 10)
    assert rec.recommend(0, 10).items == items.tolist()


def test_a_large_catalogue_with_ties_at_the_cut_keeps_item_order():
    n_items = 4 * MANY + 1_000
    _, arrays = make(n_users=2, n_items=n_items, d=4, seen_per_user=50, seed=6)
    tied = integer_scores(arrays)
    rec = Recommender(**tied)
    for user in range(2):
        items, _ = brute_force(tied, user, 50)
        assert rec.recommend(user, 50).items == items.tolist()


def test_a_catalogue_where_every_score_ties_still_comes_in_item_order():
    # Every score ties: no bound narrows anything, so every item is scored.
    _, arrays = make(n_users=1, n_items=5 * MANY, seen_per_user=3, seed=8)
    flat = {
        **arrays,
        "item_embeddings": np.zeros_like(arrays["item_embeddings"]),
        "item_biases": np.zeros_like(arrays["item_biases"]),
    }
    rec = Recommender(**flat)
    items, _ = brute_force(flat, 0, 20)
    assert rec.recommend(0, 20).items == items.tolist()


def test_read_only_memory_maps_are_scanned_in_place(tmp_path):
    rec, arrays = make(n_items=3 * MANY, seed=9)
    for name in ("item_embeddings", "item_biases", "user_embeddings"):
        np.save(tmp_path / f"{name}.npy", arrays[name])
    mapped = Recommender(
        **{
            **arrays,
            **{
                name: np.load(tmp_path / f"{name}.npy", mmap_mode="r")
                for name in ("item_embeddings", "item_biases", "user_embeddings")
            },
        }
    )
    for user in range(3):
        assert mapped.recommend(user, 10) == rec.recommend(user, 10)
