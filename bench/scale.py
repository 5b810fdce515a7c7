"""Scale benchmark: a scoring pod's memory, time to ready and latency on large models.

For each model size (synthetic factors, written through `mlrelease.store.modelfiles` and
published as training publishes) this runs what a pod runs: the init container's command
`mlrelease model wait URI --into DIR` once, then, for each worker count, `python -m
scoring` with MODEL_URI=DIR on 127.0.0.1. It prints:

- init: seconds to download and verify the version into the pod-local folder;
- ready: seconds from start until every worker answered /readyz with 200;
- PSS: the pod's memory, summed over the gunicorn master and its workers from
  /proc/<pid>/smaps_rollup. PSS splits each shared page between the processes that map it,
  so the model's pages count once however many workers map them. `peak` is sampled every
  0.1 s from start until ready, `steady` after a bounded load; both as a multiple of the
  model's bytes. `bound` adds the pages of the model no request touched yet (PSS counts
  only pages that are resident and mapped): the most the pod holds once every page of the
  model has been read;
- latency: p50/p99 of top-10 recommendations for random known users over one keep-alive
  connection (sequential, so it is the server's time, not queueing).

    python bench/scale.py [--sizes 100000x200000,1000000x200000,1000000x1000000]
                          [--factors 64] [--seen 20] [--workers 1,2,4] [--requests 300]

Servers listen on 127.0.0.1 only and are stopped by PID, also when something fails.
"""

import argparse
import http.client
import io
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from mlrelease.store import artifact
from mlrelease.store import modelfiles as files

READY_TIMEOUT = 600.0
MODEL_NAME = "synthetic"


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def publish_synthetic(
    models: Path, n_users: int, n_items: int, factors: int, seen: int, seed: int = 0
) -> tuple[str, int]:
    """Publish a random model of this shape; return its version URI and its bytes."""
    rng = np.random.default_rng(seed)
    version = f"u{n_users}-i{n_items}-f{factors}"
    indices = np.sort(rng.integers(0, n_items, (n_users, seen), dtype=np.int32), axis=1)
    arrays = {
        files.USER_EMBEDDINGS: rng.normal(0, 0.1, (n_users, factors)).astype(np.float32),
        files.USER_BIASES: rng.normal(0, 0.1, n_users).astype(np.float32),
        files.ITEM_EMBEDDINGS: rng.normal(0, 0.1, (n_items, factors)).astype(np.float32),
        files.ITEM_BIASES: rng.normal(0, 0.1, n_items).astype(np.float32),
        files.SEEN_INDPTR: np.arange(0, (n_users + 1) * seen, seen, dtype=np.int64),
        files.SEEN_INDICES: indices.reshape(-1),
        files.ITEM_POPULARITY: rng.integers(0, 1000, n_items).astype(np.float32),
    }
    payload = {
        spec.name: npy(array.astype(spec.dtype, copy=False)) for spec, array in arrays.items()
    }
    del arrays
    payload[files.USER_IDS] = json.dumps([f"u{i}" for i in range(n_users)]).encode()
    payload[files.ITEM_IDS] = json.dumps([f"i{i}" for i in range(n_items)]).encode()
    uri = artifact.version_uri(str(models), MODEL_NAME, version)
    manifest = artifact.publish(uri, payload, {"modelName": MODEL_NAME, "versionId": version})
    return uri, sum(entry["size"] for entry in manifest["files"].values())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def rollup(pid: int) -> dict[str, int]:
    """smaps_rollup fields in bytes (empty when the process is gone)."""
    fields = {}
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return fields
    for line in lines[1:]:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[-1] == "kB":
            fields[name] = int(parts[0]) * 1024
    return fields


def pod_memory(master: int) -> dict[str, int]:
    """PSS, PSS of anonymous memory and RSS summed over the master and its workers."""
    total = {"Pss": 0, "Pss_Anon": 0, "Rss": 0}
    for pid in [master, *children(master)]:
        fields = rollup(pid)
        for key in total:
            total[key] += fields.get(key, 0)
    return total


def mapped_model_bytes(pids: list[int], folder: Path) -> int:
    """How many bytes of the model's files are resident in some worker's mappings."""
    # Rss of the model's mappings in the process that touched most of them.
    best = 0
    for pid in pids:
        rss = 0
        try:
            text = Path(f"/proc/{pid}/smaps").read_text()
        except OSError:
            continue
        current = False
        for line in text.splitlines():
            if line[:1].isdigit() or line[:1] in "abcdef":
                parts = line.split()
                current = len(parts) >= 6 and parts[-1].startswith(str(folder))
            elif current and line.startswith("Rss:"):
                rss += int(line.split()[1]) * 1024
        best = max(best, rss)
    return best


def ready_workers(port: int, workers: int) -> bool:
    seen: set[int] = set()
    for _ in range(workers * 8):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/readyz", headers={"Connection": "close"})
            response = connection.getresponse()
            body = json.loads(response.read())
            connection.close()
        except (OSError, ValueError, http.client.HTTPException):
            return False
        if response.status != 200:
            return False
        seen.add(body["worker"])
        if len(seen) == workers:
            return True
    return False


def latencies(port: int, n_users: int, requests: int) -> list[float]:
    rng = random.Random(1)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    try:
        for _ in range(requests):
            start = time.perf_counter()
            connection.request("GET", f"/recommendations/u{rng.randrange(n_users)}?k=10")
            response = connection.getresponse()
            body = response.read()
            times.append(time.perf_counter() - start)
            if response.status != 200:
                raise RuntimeError(f"{response.status}: {body[:200]!r}")
    finally:
        connection.close()
    return times


def serve(folder: Path, workers: int, n_users: int, requests: int) -> dict:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "PROMETHEUS_"))}
    env.update(MODEL_URI=str(folder), HOST="127.0.0.1", PORT=str(port), WORKERS=str(workers))
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "scoring"], env=env, stdout=log, stderr=log, start_new_session=True
    )
    peak = {"Pss": 0, "Pss_Anon": 0, "Rss": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            for key, value in pod_memory(server.pid).items():
                peak[key] = max(peak[key], value)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        while not ready_workers(port, workers):
            if server.poll() is not None or time.perf_counter() - started > READY_TIMEOUT:
                log.seek(0)
                raise RuntimeError(f"server did not get ready:\n{log.read().decode()[-3000:]}")
            time.sleep(0.1)
        ready = time.perf_counter() - started
        done.set()
        sampler.join()
        times = latencies(port, n_users, requests)
        time.sleep(0.5)
        steady = pod_memory(server.pid)
        touched = mapped_model_bytes(children(server.pid), folder)
    finally:
        done.set()
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
    return {"ready": ready, "peak": peak, "steady": steady, "times": times, "touched": touched}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000x200000,1000000x200000,1000000x1000000")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--seen", type=int, default=20, help="seen items per user")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    worker_counts = [int(w) for w in args.workers.split(",")]
    mib = 1024 * 1024

    root = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    try:
        for size in args.sizes.split(","):
            n_users, n_items = (int(part) for part in size.split("x"))
            uri, model_bytes = publish_synthetic(
                root / "store", n_users, n_items, args.factors, args.seen
            )
            folder = root / "pod" / Path(uri).name
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "mlrelease", "model", "wait", uri, "--into", str(folder)],
                check=True,
                capture_output=True,
            )
            init = time.perf_counter() - start
            print(
                f"\nmodel {n_users} users x {n_items} items x {args.factors} factors, "
                f"{args.seen} seen per user: {model_bytes / mib:.0f} MiB; "
                f"init (download + verify into the pod volume) {init:.1f} s"
            )
            print(
                f"{'workers':>7} {'ready s':>8} {'peak PSS':>9} {'steady PSS':>11} "
                f"{'x model':>8} {'bound':>7} {'anon PSS':>9} {'p50 ms':>7} {'p99 ms':>7}"
            )
            for workers in worker_counts:
                result = serve(folder, workers, n_users, args.requests)
                steady, peak = result["steady"], result["peak"]
                untouched = max(0, model_bytes - result["touched"])
                times = sorted(result["times"])
                print(
                    f"{workers:>7} {result['ready']:>8.1f} {peak['Pss'] / mib:>8.0f}M "
                    f"{steady['Pss'] / mib:>10.0f}M {steady['Pss'] / model_bytes:>7.2f}x "
                    f"{(steady['Pss'] + untouched) / model_bytes:>6.2f}x "
                    f"{steady['Pss_Anon'] / mib:>8.0f}M "
                    f"{statistics.median(times) * 1e3:>7.2f} "
                    f"{times[int(0.99 * (len(times) - 1))] * 1e3:>7.2f}"
                )
            shutil.rmtree(root / "pod", ignore_errors=True)
            shutil.rmtree(root / "store", ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
