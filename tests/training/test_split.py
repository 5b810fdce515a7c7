"""Train/test split: latest interactions held out per user, or a seeded random share."""

import numpy as np
import pytest

from training.split import RANDOM, TIME, split_mask


def test_time_split_holds_out_each_users_latest_interactions():
    users = np.array([0, 0, 0, 0, 0, 1, 1, 2, 3, 3, 3])
    stamps = np.array([5, 1, 4, 2, 3, 10, 20, 7, 3, 1, 2], dtype=float)
    is_test, method = split_mask(users, stamps, test_fraction=0.2, seed=0)
    assert method == TIME
    held = {(int(u), float(t)) for u, t in zip(users[is_test], stamps[is_test], strict=True)}
    # ceil(0.2 * n) per user, never a user's only interaction.
    assert held == {(0, 5.0), (1, 20.0), (3, 3.0)}


def test_time_split_is_reproducible_and_keeps_every_user_in_training():
    rng = np.random.default_rng(3)
    users = rng.integers(0, 50, 2000)
    stamps = rng.integers(0, 5, 2000).astype(float)  # many ties
    first, _ = split_mask(users, stamps, test_fraction=0.3, seed=1)
    again, _ = split_mask(users, stamps, test_fraction=0.3, seed=1)
    assert np.array_equal(first, again)
    assert set(users[~first]) == set(users)
    for user in range(50):
        mine = users == user
        if mine.any() and first[mine].any():
            assert stamps[mine & first].min() >= stamps[mine & ~first].max()


def test_random_split_holds_out_the_fraction_and_depends_on_the_seed():
    users = np.arange(1000) % 37
    is_test, method = split_mask(users, None, test_fraction=0.2, seed=42)
    assert method == RANDOM and is_test.sum() == 200
    assert np.array_equal(is_test, split_mask(users, None, test_fraction=0.2, seed=42)[0])
    assert not np.array_equal(is_test, split_mask(users, None, test_fraction=0.2, seed=7)[0])


def test_random_split_can_be_forced_when_timestamps_exist():
    users = np.zeros(10, dtype=int)
    stamps = np.arange(10, dtype=float)
    _, method = split_mask(users, stamps, test_fraction=0.5, seed=0, method=RANDOM)
    assert method == RANDOM
    with pytest.raises(ValueError, match="cannot split by 'time'"):
        split_mask(users, None, test_fraction=0.5, seed=0, method=TIME)
