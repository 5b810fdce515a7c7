"""Ingest benchmark: training's export reader against pyarrow's CSV reader on the same files.

Writes a synthetic export (`user_id,item_id,rating,timestamp`, string ids, split over
`--files` CSV files) of 2M and 20M rows, then alternates, in each round and in a fresh
process each time: (a) pyarrow reading every file into a table (`pyarrow.csv.read_csv`,
its threads on, the tables kept: what "load the export with pyarrow" costs) and (b)
`training.data.read_interactions`, which checks every row, hashes every file for the
snapshot, maps ids to indices and deduplicates. For each it prints wall time, rows per
second, CPU time (user + system, every thread) and peak RSS (the process's ru_maxrss, so
the interpreter and pyarrow's import are in both), and the ratios ours / pyarrow per round
(median and range), and the last round's log of read_interactions' own phases (reading
the files, numbering the ids, finding the distinct pairs). pyarrow keeps nearly both
cores busy, so ours can hardly reach a larger share of its rate than its share of our CPU
time: half the rate needs at most about twice the CPU time.

    python bench/ingest.py [--rows 2000000,20000000] [--files 4] [--rounds 3]
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

CHILD = r"""
import json, logging, resource, sys, time
from pathlib import Path
kind, folder = sys.argv[1], sys.argv[2]
if kind == "ours":  # first, as in the job: the training package sets numpy up before its import
    from training.data import read_interactions
    # Its phase timings ("read N files in", "ids numbered across files in") go to stderr.
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
import pyarrow.csv
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
start, start_cpu = time.perf_counter(), cpu()
if kind == "pyarrow":
    tables = [pyarrow.csv.read_csv(path) for path in sorted(Path(folder).rglob("*.csv"))]
    rows = sum(t.num_rows for t in tables)
else:
    data = read_interactions(folder)
    rows = data.rows_read
elapsed, used = time.perf_counter() - start, cpu() - start_cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"rows": rows, "seconds": elapsed, "cpu": used, "peak": peak}))
"""


def write_export(folder: Path, rows: int, files: int, seed: int = 0) -> int:
    """Write `rows` interactions over `files` CSVs; return the bytes written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    users = max(1000, rows // 20)
    items = max(100, rows // 200)
    written = 0
    for n, part in enumerate(np.array_split(np.arange(rows), files)):
        size = part.size
        table = pa.table(
            {
                "user_id": pa.array(
                    np.char.add("u", rng.integers(0, users, size).astype(str)).astype(object)
                ),
                "item_id": pa.array(
                    np.char.add("i", rng.integers(0, items, size).astype(str)).astype(object)
                ),
                "rating": rng.integers(1, 6, size),
                "timestamp": 1_790_000_000 + rng.integers(0, 30 * 86400, size),
            }
        )
        path = folder / f"part-{n:03d}.csv"
        pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="none"))
        written += path.stat().st_size
    return written


def measure(kind: str, folder: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(folder)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    measured["phases"] = [
        line for line in result.stderr.splitlines() if " files in " in line or "numbered" in line
    ]
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="2000000,20000000")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    mib = 1024 * 1024
    try:
        for rows in (int(r) for r in args.rows.split(",")):
            folder = root / f"rows-{rows}"
            size = write_export(folder, rows, args.files)
            print(f"\n{rows} rows in {args.files} files, {size / mib:.0f} MiB of CSV")
            results: dict[str, list[dict]] = {"pyarrow": [], "ours": []}
            rate_ratios, cpu_ratios, memory_ratios = [], [], []
            for n in range(args.rounds):
                # Alternate which side goes first, so neither always gets the warm cache.
                order = ("pyarrow", "ours") if n % 2 == 0 else ("ours", "pyarrow")
                got = {kind: measure(kind, folder) for kind in order}
                for kind, result in got.items():
                    results[kind].append(result)
                rate_ratios.append(got["pyarrow"]["seconds"] / got["ours"]["seconds"])
                cpu_ratios.append(got["ours"]["cpu"] / got["pyarrow"]["cpu"])
                memory_ratios.append(got["ours"]["peak"] / got["pyarrow"]["peak"])
            for kind, label in (("pyarrow", "pyarrow read_csv"), ("ours", "read_interactions")):
                seconds = statistics.median(r["seconds"] for r in results[kind])
                cpu = statistics.median(r["cpu"] for r in results[kind])
                peak = statistics.median(r["peak"] for r in results[kind])
                print(
                    f"  {label:<18} {seconds:6.2f} s  {rows / seconds / 1e6:5.2f} M rows/s  "
                    f"CPU {cpu:6.2f} s  peak RSS {peak / mib:6.0f} MiB"
                )
            print("  read_interactions' own log, last round: " + "; ".join(got["ours"]["phases"]))
            print(
                f"  ours / pyarrow: rate {statistics.median(rate_ratios):.0%} (range "
                f"{min(rate_ratios):.0%}-{max(rate_ratios):.0%}), CPU "
                f"{statistics.median(cpu_ratios):.1f}x (range {min(cpu_ratios):.1f}-"
                f"{max(cpu_ratios):.1f}x), peak memory "
                f"{statistics.median(memory_ratios):.2f}x (range {min(memory_ratios):.2f}-"
                f"{max(memory_ratios):.2f}x), {args.rounds} rounds"
            )
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
