"""Exact top-k over large catalogues: an int8 copy of the items narrows, the float32 rows decide.

A top-k must score every item, so at 200k items and more the scan is a request's cost, and
the float32 item matrix (51 MB at 200k x 64) no longer fits the last-level cache: one BLAS
thread streams it from memory in 2.6 ms on a 2-core VM, 3.0 ms while the other worker does
the same. This module keeps a second, int8 copy of the items (a quarter of the bytes, one
scale per item), which fits, and which SimSIMD's integer dot-product kernel scans in
1.1-1.5 ms, one worker running or two; then it rescores exactly, in float64 from the
float32 rows, only the few items that can still be among the k best.

Why the answer stays exact: quantising an item row v (scale s, |v - s q| <= s/2 in every
factor) and the request's user vector u (scale t, |u - t p| <= t/2) moves a score by at
most

    E = (t/2) * max ||v||_1 + (max s / 2) * ||t p||_1

over every item (plus float32 rounding, which `_SLACK` covers many times over). So the k
items with the best approximate scores all score exactly at least A_k - E, where A_k is
the k-th best approximate score, and an item of the exact answer can approximate no lower
than A_k - 2E: those are the candidates, rescored from the float32 rows in float64.
Ties with the k-th exact score are inside that bound too, so the caller's tie rule (lower
index first) still sees every tied item. When the bound is too wide to narrow anything (a
catalogue with a few huge item vectors, or every score tied) the caller scores every item
instead.

The int8 copy is made once per process from the float32 rows, in blocks (no model-sized
temporary). In a pod that process is the gunicorn master, before it forks, so every
worker shares one copy's pages (and the last-level cache holds them once).
"""

import threading

import numpy as np

from scoring import simd
from scoring.topk import best_of

# Rows quantised at a time when the copy is made: a few MB of float32 temporaries.
_BLOCK_ROWS = 1 << 15
# Float32 rounding in the scores compared (ours and the exact ones), as a share of the
# largest magnitude a score can have; float32's own relative error is about 6e-8 per
# operation, 64 factors at most ~4e-6.
_SLACK = 1e-5
# Past this share of the catalogue the candidates are not worth gathering row by row.
_MAX_CANDIDATE_SHARE = 1 / 8


class QuantizedItems:
    """The int8 copy of an item matrix, with what the error bound needs.

    `items` and `biases` are kept as given (the float32 rows rescore the candidates).
    """

    def __init__(self, items: np.ndarray, biases: np.ndarray) -> None:
        n_items, factors = items.shape
        self._items = items
        self._biases = biases
        self.codes = np.empty((n_items, factors), dtype=np.int8)
        self.scales = np.empty(n_items, dtype=np.float32)
        largest_l1 = largest_value = 0.0
        for start in range(0, n_items, _BLOCK_ROWS):
            block = np.asarray(items[start : start + _BLOCK_ROWS], dtype=np.float32)
            magnitude = np.abs(block)
            peak = magnitude.max(axis=1) if factors else np.zeros(len(block), np.float32)
            scale = peak / np.float32(127)
            # An all-zero row keeps code 0 under any scale; 1 avoids dividing by zero.
            scale[scale == 0] = 1
            self.scales[start : start + len(block)] = scale
            scaled = block / scale[:, None]
            self.codes[start : start + len(block)] = np.rint(scaled, out=scaled)
            largest_l1 = max(largest_l1, float(magnitude.sum(axis=1, dtype=np.float64).max()))
            largest_value = max(largest_value, float(peak.max(initial=0)))
        self._largest_l1 = largest_l1
        self._largest_value = largest_value
        self._largest_scale = float(self.scales.max(initial=0))
        self._largest_bias = float(np.abs(biases).max(initial=0))
        # Each thread's score buffer, reused: a fresh one would page-fault on every request
        # (160 us at 200k items). A gevent worker's requests share its one thread's buffer,
        # which no request yields while using.
        self._scratch = threading.local()

    def candidates(
        self, vector: np.ndarray, seen: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Unseen items, exactly scored, among them the k best and every item tied with the k-th.

        None when the error bound leaves too many candidates to be cheaper than scoring
        every item; k never exceeds the unseen items.
        """
        peak = float(np.abs(vector).max()) if vector.size else 0.0
        step = peak / 127 if peak > 0 else 1.0
        codes = np.rint(vector / np.float32(step)).astype(np.int8)
        approx = self._buffer()
        simd.inner_products(approx[None, :], codes[None, :], self.codes)
        # approx = step * scale * dot + bias, in place.
        simd.scale_and_shift(approx, self.scales, self._biases, alpha=step)
        approx[seen] = -np.inf
        # Each estimate is off by at most `bound`, so 2 * bound covers any two of them.
        chosen = best_of(approx, k, margin=2 * self._bound(vector, codes, step))
        if chosen.size > _MAX_CANDIDATE_SHARE * approx.size:
            return None
        # In float64: a few hundred rows at most, and near-ties float32 could swap are not.
        exact = self._items[chosen].astype(np.float64) @ vector.astype(np.float64)
        exact += self._biases[chosen]
        return chosen, exact

    def _buffer(self) -> np.ndarray:
        buffer = getattr(self._scratch, "scores", None)
        if buffer is None:
            buffer = self._scratch.scores = np.empty(len(self.codes), dtype=np.float32)
        return buffer

    def _bound(self, vector: np.ndarray, codes: np.ndarray, step: float) -> float:
        """How far any approximate score can be from the exact one (E above, plus rounding)."""
        quantised_l1 = step * float(np.abs(codes).sum(dtype=np.int64))
        bound = step / 2 * self._largest_l1 + self._largest_scale / 2 * quantised_l1
        largest_score = (
            float(np.abs(vector).sum(dtype=np.float64)) * self._largest_value + self._largest_bias
        )
        return bound * (1 + _SLACK) + _SLACK * largest_score
