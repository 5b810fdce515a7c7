"""HTTP benchmark: gunicorn (2 workers) on 127.0.0.1 serving a MovieLens-100k model.

Trains a model with the real training code (`python -m training`) on MovieLens 100k
(`mlrelease.sampledata.write_movielens_export`; needs `pip install --no-deps
recbole==1.2.1`), starts `python -m scoring` exactly as the container does, then runs a
bounded load with wrk (Debian: `apt-get install wrk`) against `/recommendations/<user>`
(a Lua script rotating through the model's users in random order, k=10) and against the
trivial `/ping` on the same server, and prints requests/s, p50, p99 and errors for both.

    python bench/scoring_http.py [--duration 20] [--rounds 10] [--connections 8] [--threads 2]
"""

import argparse
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
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from mlrelease.sampledata import write_movielens_export
from mlrelease.store import artifact
from mlrelease.versions import version_id

# wrk's end-of-run hook: one JSON line the scripts read back with `wrk_result`.
WRK_REPORT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""

LUA = """
local paths = {%(paths)s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
"""


# The error kinds WRK_REPORT prints, each a count.
WRK_ERROR_KINDS = ("connect", "read", "write", "status", "timeout")


def wrk_result(output: str) -> dict:
    """The WRK_REPORT line of a wrk run, with requests/s and the error total added."""
    line = next(x for x in output.splitlines() if x.startswith("WRK_JSON "))
    result = json.loads(line.removeprefix("WRK_JSON "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(result[kind] for kind in WRK_ERROR_KINDS)
    return result


def clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "PROMETHEUS_"))}
    env.update(overrides)
    return env


def train(root: Path) -> str:
    day = write_movielens_export(root / "data")
    build = "20261127.100"
    env = clean_env(
        BUILD_NUMBER=build,
        MODEL_NAME="movielens",
        DATA_URI=str(day),
        MODELS_URI=str(root / "models"),
        MIN_PRECISION_AT_K="0",
    )
    subprocess.run([sys.executable, "-m", "training"], env=env, check=True)
    return artifact.version_uri(str(root / "models"), "movielens", version_id(build))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    streak = 0
    while streak < 10:  # both workers must have loaded the model
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the scoring server did not become ready at {url}")
        streak = streak + 1 if status(url + "/readyz") == 200 else 0
        time.sleep(0.05 if streak else 0.2)


def run_wrk(url: str, paths: list[str], args: argparse.Namespace, workdir: Path) -> dict:
    script = workdir / "paths.lua"
    script.write_text(LUA % {"paths": ", ".join(json.dumps(p) for p in paths)} + WRK_REPORT)
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return wrk_result(output)


def combine(rounds: list[dict]) -> dict:
    """One figure per endpoint: total rate, median p50 and worst p99 over the rounds."""
    total = {k: sum(r[k] for r in rounds) for k in rounds[0] if k not in ("p50_us", "p99_us")}
    total["rps"] = total["requests"] / (total["duration_us"] / 1e6)
    total["p50_us"] = statistics.median(r["p50_us"] for r in rounds)
    total["p99_us"] = max(r["p99_us"] for r in rounds)
    return total


def describe(name: str, r: dict) -> str:
    return (
        f"{name:<16} {r['rps']:9.0f} req/s  p50 {r['p50_us'] / 1000:6.2f} ms  "
        f"p99 {r['p99_us'] / 1000:6.2f} ms  errors {r['errors']} "
        f"(connect {r['connect']}, read {r['read']}, write {r['write']}, "
        f"status {r['status']}, timeout {r['timeout']}) over {r['requests']} requests"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds per endpoint")
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `apt-get install wrk` (Debian/Ubuntu)")

    workdir = Path(tempfile.mkdtemp(prefix="scoring-bench-"))
    process = None
    try:
        model_uri = train(workdir)
        users = json.loads((Path(model_uri) / "user_ids.json").read_text())
        random.Random(0).shuffle(users)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = clean_env(
            MODEL_URI=model_uri, HOST="127.0.0.1", PORT=str(port), WORKERS=str(args.workers)
        )
        log = (workdir / "server.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "scoring"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        wait_ready(url, process)
        paths = [f"/recommendations/{urllib.parse.quote(u, safe='')}?k=10" for u in users]
        run_wrk(url, paths[:50], argparse.Namespace(**{**vars(args), "duration": 2}), workdir)
        # Alternate the endpoints in short rounds, so both see the same background load.
        per_round = argparse.Namespace(**{**vars(args), "duration": args.duration // args.rounds})
        ping_rounds, recs_rounds = [], []
        for _ in range(args.rounds):
            ping_rounds.append(run_wrk(url, ["/ping"], per_round, workdir))
            recs_rounds.append(run_wrk(url, paths, per_round, workdir))
        ping, recs = combine(ping_rounds), combine(recs_rounds)
        # Each recommendations round is compared with the ping round just before it: the
        # machine's speed drifts between rounds, so the median of these paired ratios is the
        # steadiest figure; the pooled ratio is printed beside it.
        paired = [r["rps"] / p["rps"] for p, r in zip(ping_rounds, recs_rounds, strict=True)]
        print(
            f"server: gunicorn {args.workers} workers (gevent event loop), 127.0.0.1; load: wrk "
            f"-t{args.threads} -c{args.connections}, {args.rounds} alternating rounds of "
            f"{per_round.duration}s per endpoint; model: MovieLens 100k ({len(users)} users), "
            "k=10, users in random order; p50 = median of rounds, p99 = worst round"
        )
        print(describe("/ping", ping))
        print(describe("/recommendations", recs))
        print(
            f"throughput ratio recommendations / ping: {statistics.median(paired):.0%} median "
            f"of {len(paired)} paired rounds (range {min(paired):.0%}-{max(paired):.0%}); "
            f"{recs['rps'] / ping['rps']:.0%} pooled"
        )
        print("paired rounds: " + " ".join(f"{ratio:.0%}" for ratio in paired))
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
