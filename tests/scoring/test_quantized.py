"""The int8 narrowing of large catalogues: exact answers wherever quantisation could mislead."""

import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from scoring import recommender
from scoring.quantized import QuantizedItems
from scoring.recommender import Recommender


def arrays_for(items, biases, users, seen=()):
    n_users, n_items = len(users), len(items)
    seen = np.asarray(seen, dtype=np.int32)
    return dict(
        user_embeddings=np.asarray(users, dtype=np.float32),
        user_biases=np.zeros(n_users, dtype=np.float32),
        item_embeddings=np.asarray(items, dtype=np.float32),
        item_biases=np.asarray(biases, dtype=np.float32),
        seen_indptr=np.array([0] + [seen.size] * n_users, dtype=np.int64),
        seen_indices=seen,
        item_popularity=np.zeros(n_items, dtype=np.float32),
    )


def both_paths(arrays):
    """The same model scored every item in float32 (BLAS) and narrowed by the int8 copy."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recommender, "QUANTIZED_MIN_ITEMS", 10**9)
        plain = Recommender(**arrays)
        patch.setattr(recommender, "QUANTIZED_MIN_ITEMS", 0)
        narrowed = Recommender(**arrays)
    assert narrowed.quantized and not plain.quantized
    return plain, narrowed


def exact_ranking(arrays, user, k):
    scores = arrays["item_embeddings"].astype(np.float64) @ arrays["user_embeddings"][user]
    scores += arrays["item_biases"]
    start, end = arrays["seen_indptr"][user : user + 2]
    scores[arrays["seen_indices"][start:end]] = -np.inf
    return np.argsort(-scores, kind="stable")[:k].tolist()


# Small integers times a power of two: every score is exact in float32, so the plain path
# is the exact answer and any difference is the narrowing's fault. Wide exponents, ties
# and all-zero rows are where a bound goes wrong.
exponents = st.integers(-30, 30)
factor_values = st.integers(-20, 20)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_narrowed_answers_equal_the_full_float32_scan(data):
    n_items = data.draw(st.integers(1, 300), label="items")
    factors = data.draw(st.integers(1, 9), label="factors")
    item_scale = 2.0 ** data.draw(exponents, label="item exponent")
    user_scale = 2.0 ** data.draw(exponents, label="user exponent")
    items = data.draw(hnp.arrays(np.int64, (n_items, factors), elements=factor_values))
    users = data.draw(hnp.arrays(np.int64, (2, factors), elements=factor_values))
    biases = data.draw(hnp.arrays(np.int64, n_items, elements=st.integers(-3, 3)))
    seen = data.draw(st.lists(st.integers(0, n_items - 1), max_size=5, unique=True))
    bias_scale = item_scale * user_scale * data.draw(st.sampled_from([0.0, 1.0, 64.0]))
    arrays = arrays_for(items * item_scale, biases * bias_scale, users * user_scale, sorted(seen))
    plain, narrowed = both_paths(arrays)
    k = data.draw(st.integers(1, 12), label="k")
    for user in range(2):
        assert narrowed.recommend(user, k) == plain.recommend(user, k)


def test_scores_closer_than_an_int8_step_are_ordered_exactly():
    # 5000 items that quantise to the same codes; only their float32 rows tell them apart.
    rng = np.random.default_rng(0)
    base = rng.normal(size=64)
    items = base + rng.normal(scale=1e-4, size=(5000, 64))
    arrays = arrays_for(items, np.zeros(5000), rng.normal(size=(3, 64)))
    plain, narrowed = both_paths(arrays)
    codes = QuantizedItems(arrays["item_embeddings"], arrays["item_biases"]).codes
    assert len(np.unique(codes, axis=0)) < 100
    for user in range(3):
        got = narrowed.recommend(user, 20)
        assert got.items == exact_ranking(arrays, user, 20)
        assert got == plain.recommend(user, 20)


def test_a_normal_catalogue_is_narrowed_to_a_few_candidates():
    rng = np.random.default_rng(1)
    items = rng.normal(0, 0.1, (100_000, 64)).astype(np.float32)
    biases = rng.normal(0, 0.1, 100_000).astype(np.float32)
    quantized = QuantizedItems(items, biases)
    for user in rng.normal(0, 0.1, (5, 64)).astype(np.float32):
        chosen, _ = quantized.candidates(user, np.zeros(0, np.int32), 10)
        assert 10 <= chosen.size < 1000


def test_one_huge_item_widens_the_bound_and_every_item_is_scored_instead():
    rng = np.random.default_rng(2)
    items = rng.normal(0, 0.1, (20_000, 16))
    items[7] *= 1e6
    arrays = arrays_for(items, np.zeros(20_000), rng.normal(0, 0.1, (2, 16)))
    plain, narrowed = both_paths(arrays)
    quantized = QuantizedItems(arrays["item_embeddings"], arrays["item_biases"])
    vector = arrays["user_embeddings"][0]
    no_seen = np.zeros(0, np.int32)
    assert quantized.candidates(vector, no_seen, 10) is None
    for user in range(2):
        assert narrowed.recommend(user, 10) == plain.recommend(user, 10)
        assert narrowed.recommend(user, 10).items == exact_ranking(arrays, user, 10)


def test_a_zero_user_vector_ranks_by_item_bias():
    rng = np.random.default_rng(3)
    biases = rng.normal(size=40_000)
    arrays = arrays_for(rng.normal(size=(40_000, 8)), biases, np.zeros((1, 8)), seen=[5, 9])
    _, narrowed = both_paths(arrays)
    assert narrowed.recommend(0, 10).items == exact_ranking(arrays, 0, 10)


@pytest.mark.parametrize(("n_items", "narrowed"), [(1_000, False), (40_000, True)])
def test_only_a_catalogue_past_the_bar_gets_the_int8_copy(n_items, narrowed):
    rng = np.random.default_rng(4)
    arrays = arrays_for(rng.normal(size=(n_items, 4)), np.zeros(n_items), rng.normal(size=(1, 4)))
    assert Recommender(**arrays).quantized is narrowed


def test_the_copy_is_made_from_read_only_maps_without_writing_them(tmp_path):
    rng = np.random.default_rng(5)
    items = rng.normal(size=(70_000, 8)).astype(np.float32)
    np.save(tmp_path / "items.npy", items)
    mapped = np.load(tmp_path / "items.npy", mmap_mode="r")
    quantized = QuantizedItems(mapped, np.zeros(70_000, np.float32))
    np.testing.assert_array_equal(np.load(tmp_path / "items.npy"), items)
    error = np.abs(items - quantized.codes * quantized.scales[:, None])
    assert np.all(error <= quantized.scales[:, None] / 2 * (1 + 1e-5))


def test_threads_scoring_at_once_each_get_their_own_answer():
    # gthread workers run requests in threads; each thread scores into its own buffer.
    rng = np.random.default_rng(6)
    arrays = arrays_for(
        rng.normal(size=(50_000, 16)), rng.normal(size=50_000), rng.normal(size=(40, 16))
    )
    _, narrowed = both_paths(arrays)
    expected = [exact_ranking(arrays, user, 10) for user in range(40)]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda n: narrowed.recommend(n % 40, 10).items, range(400)))
    assert answers == [expected[n % 40] for n in range(400)]


def test_scoring_many_requests_leaves_nones_reference_count_as_it_was():
    # SimSIMD 6.5's in-place kernels give one reference to None away per call; a worker
    # died of it ("none_dealloc") after about 10,000 requests (scoring.simd).
    rng = np.random.default_rng(7)
    quantized = QuantizedItems(
        rng.normal(size=(4000, 16)).astype(np.float32), np.zeros(4000, dtype=np.float32)
    )
    vector, seen = rng.normal(size=16).astype(np.float32), np.empty(0, dtype=np.int32)
    before = sys.getrefcount(None)
    for _ in range(2000):
        quantized.candidates(vector, seen, 10)
    assert abs(sys.getrefcount(None) - before) < 100
