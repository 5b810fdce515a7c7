"""Large-catalogue benchmark: exact top-10 over 200k and 1M items against the memory floor.

Scoring every item in float32 means reading the whole item matrix (and the item biases)
once per request, so the floor of a plain top-k is the time to stream those bytes from
memory. For each catalogue size this builds a synthetic model (64 factors), then
alternates rounds of (a) our `Recommender.recommend` (the full request: seen items, exact
top-k; from `scoring.recommender.QUANTIZED_MIN_ITEMS` items on it scans the int8 copy and
rescores a few candidates, and the script says which path ran), (b) the bare BLAS
matrix-vector product over the float32 items (for reference) and (c) a measurement of the
machine's single-thread read bandwidth (BLAS sdot of a 512 MiB array with itself, every
byte read once with SIMD loads, far beyond the caches). It prints the float32 floor over
the request time (above 100%: faster than any float32 scan could be) and the bytes the
request actually scans over the same bandwidth. Each round's ratio compares measurements
taken seconds apart, so a shared machine's drift cancels; the median and range of the
per-round ratios are printed. One BLAS thread, as in a gunicorn worker. Answers are
checked against a full stable sort first.

    python bench/scan.py [--items 200000,1000000] [--factors 64] [--rounds 10] [--repeats 15]

Numbers depend on the BLAS kernel and on the SIMD kernels SimSIMD picks for the CPU: the
script prints both (threadpoolctl, simsimd's capabilities). Where OPENBLAS_CORETYPE is set
for an old OpenBLAS, unset it and OPENBLAS_L2_SIZE in the command that runs this benchmark
(never in tests), and check the kernel it prints.
"""

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import simsimd  # noqa: E402
from threadpoolctl import threadpool_info  # noqa: E402

from scoring.recommender import Recommender  # noqa: E402

BANDWIDTH_BYTES = 512 * 1024 * 1024


def make(n_items: int, d: int, n_users: int = 1000, seen: int = 50) -> dict:
    rng = np.random.default_rng(0)
    return dict(
        user_embeddings=rng.normal(0, 0.1, (n_users, d)).astype(np.float32),
        user_biases=rng.normal(0, 0.1, n_users).astype(np.float32),
        item_embeddings=rng.normal(0, 0.1, (n_items, d)).astype(np.float32),
        item_biases=rng.normal(0, 0.1, n_items).astype(np.float32),
        seen_indptr=np.arange(0, (n_users + 1) * seen, seen, dtype=np.int64),
        seen_indices=np.sort(rng.integers(0, n_items, (n_users, seen)), axis=1)
        .astype(np.int32)
        .reshape(-1),
        item_popularity=rng.integers(0, 1000, n_items).astype(np.float32),
    )


def times(fn, repeats: int) -> list[float]:
    out = []
    for n in range(repeats):
        start = time.perf_counter()
        fn(n)
        out.append(time.perf_counter() - start)
    return out


def check(rec: Recommender, a: dict, users: range) -> None:
    for user in users:
        scores = a["item_embeddings"].astype(np.float64) @ a["user_embeddings"][user]
        scores += a["item_biases"]
        scores[a["seen_indices"][a["seen_indptr"][user] : a["seen_indptr"][user + 1]]] = -np.inf
        expected = np.argsort(-scores, kind="stable")[:10].tolist()
        assert rec.recommend(user, 10).items == expected, user


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", default="200000,1000000")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=15, help="requests per round")
    args = parser.parse_args()
    kernels = [
        f"{i['internal_api']} {i.get('version')} {i.get('architecture')} x{i['num_threads']}"
        for i in threadpool_info()
    ]
    print(f"BLAS: {', '.join(kernels)}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}")
    capabilities = [name for name, on in simsimd.get_capabilities().items() if on]
    print(f"int8 scan: simsimd {simsimd.__version__} ({', '.join(capabilities)})")
    data = np.ones(BANDWIDTH_BYTES // 4, dtype=np.float32)
    for n_items in (int(n) for n in args.items.split(",")):
        a = make(n_items, args.factors)
        rec = Recommender(**a)
        check(rec, a, range(5))
        vector = a["user_embeddings"][0]
        scanned = a["item_embeddings"].nbytes + a["item_biases"].nbytes
        # The int8 path reads one byte a factor, a scale and a bias per item.
        read = n_items * (args.factors + 8) if rec.quantized else scanned
        n_users = a["user_embeddings"].shape[0]
        items = a["item_embeddings"]

        def request(n: int, rec: Recommender = rec, n_users: int = n_users) -> None:
            rec.recommend(n % n_users, 10)

        def bare(_: int, items: np.ndarray = items, vector: np.ndarray = vector) -> None:
            items @ vector

        full, gemv, floor = [], [], []
        ratios, best_ratios, gemv_ratios, read_ratios = [], [], [], []
        for _ in range(args.rounds):
            f = times(request, args.repeats)
            g = times(bare, args.repeats)
            b = times(lambda _: np.dot(data, data), 3)
            bandwidth = data.nbytes / min(b)
            ratios.append(scanned / statistics.median(f) / bandwidth)
            # Best against best: on a loaded machine the fastest run of each is the one
            # least disturbed by other processes.
            best_ratios.append(scanned / min(f) / bandwidth)
            gemv_ratios.append(items.nbytes / statistics.median(g) / bandwidth)
            read_ratios.append(read / statistics.median(f) / bandwidth)
            full += f
            gemv += g
            floor.append(bandwidth)
        path = "int8 scan + exact rescoring" if rec.quantized else "float32 BLAS"
        print(
            f"\n{n_items} items x {args.factors} factors: float32 floor {scanned / 1e6:.0f} MB, "
            f"{read / 1e6:.0f} MB scanned per request ({path}); {args.rounds} rounds of "
            f"{args.repeats} requests"
        )
        print(
            f"  top-10 (exact): median {statistics.median(full) * 1e3:.2f} ms, best "
            f"{min(full) * 1e3:.2f} ms"
        )
        print(
            f"  bare float32 gemv: median {statistics.median(gemv) * 1e3:.2f} ms = "
            f"{a['item_embeddings'].nbytes / statistics.median(gemv) / 1e9:.2f} GB/s"
        )
        print(
            f"  bandwidth: median {statistics.median(floor) / 1e9:.2f} GB/s "
            f"(range {min(floor) / 1e9:.2f}-{max(floor) / 1e9:.2f})"
        )
        print(
            f"  float32 floor / top-10, per round: median request {statistics.median(ratios):.0%}"
            f" (range {min(ratios):.0%}-{max(ratios):.0%}); best request "
            f"{statistics.median(best_ratios):.0%} (range {min(best_ratios):.0%}-"
            f"{max(best_ratios):.0%}); bare gemv {statistics.median(gemv_ratios):.0%}"
        )
        print(
            f"  bytes the request scans / bandwidth: median {statistics.median(read_ratios):.0%} "
            f"(range {min(read_ratios):.0%}-{max(read_ratios):.0%})"
        )
        if n_items * args.factors * 4 < 64 * 1024 * 1024:
            print("  (a matrix this small may stay partly in the last-level cache: above 100%)")


if __name__ == "__main__":
    main()
