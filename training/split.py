"""Hold out part of the interactions to measure the model on data it did not see.

With timestamps, each user's latest interactions are held out (the model is judged on
predicting the future from the past, as it will be used). Without them, a seeded random
share of all interactions is held out. Either way the result is reproducible.
"""

import numpy as np

TIME = "time"
RANDOM = "random"


def split_mask(
    users: np.ndarray,
    timestamps: np.ndarray | None,
    *,
    test_fraction: float,
    seed: int,
    method: str | None = None,
) -> tuple[np.ndarray, str]:
    """Return (is_test boolean mask, method used).

    `method` is `time`, `random` or None (time when timestamps exist, else random).
    The time split holds out `ceil(test_fraction * n)` of each user's latest interactions
    but always leaves a user at least one in training (users with one interaction stay
    entirely in training).
    """
    method = method or (TIME if timestamps is not None else RANDOM)
    if method == RANDOM:
        rng = np.random.default_rng(seed)
        is_test = np.zeros(len(users), dtype=bool)
        is_test[rng.permutation(len(users))[: round(test_fraction * len(users))]] = True
        return is_test, RANDOM
    if method != TIME or timestamps is None:
        raise ValueError(
            f"cannot split by {method!r}: expected 'time' (with timestamps) or 'random'"
        )
    # Sort by user, then time; ties broken by a seeded shuffle so they split fairly.
    tiebreak = np.random.default_rng(seed).random(len(users))
    order = np.lexsort((tiebreak, timestamps, users))
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    counts = np.diff(np.r_[starts, len(users)])
    held = np.minimum(np.ceil(test_fraction * counts - 1e-9).astype(np.int64), counts - 1)
    # Position of each row within its user's run; the last `held` positions are test.
    position = np.arange(len(users)) - np.repeat(starts, counts)
    test_sorted = position >= np.repeat(counts - held, counts)
    is_test = np.zeros(len(users), dtype=bool)
    is_test[order] = test_sorted
    return is_test, TIME
