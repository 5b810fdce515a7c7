"""Which scan a catalogue gets: numba (and its LLVM) is loaded only past the size bar."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(("items", "compiled"), [(1_000, False), (600_000, True)])
def test_numba_is_loaded_only_for_a_catalogue_past_the_bar(items, compiled):
    """Below the bar a pod never pays for LLVM; past it the scan is compiled up front."""
    code = (
        "import sys, numpy as np; from scoring.recommender import Recommender; "
        f"n = {items}; "
        "rec = Recommender(user_embeddings=np.ones((2, 64), np.float32), "
        "user_biases=np.zeros(2, np.float32), item_embeddings=np.ones((n, 64), np.float32), "
        "item_biases=np.zeros(n, np.float32), seen_indptr=np.zeros(3, np.int64), "
        "seen_indices=np.zeros(0, np.int32), item_popularity=np.ones(n, np.float32)); "
        "rec.recommend(0, 3); print(rec.compiled_scan, 'numba' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(compiled)] * 2
