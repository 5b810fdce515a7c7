"""Peer benchmark: our server against KServe, MLflow and naive Flask + LightFM on one model.

Every server serves the same model version (MovieLens 100k trained by `python -m
training`, or with `--items N` a synthetic catalogue of N items) with 2 worker processes
on 127.0.0.1, and must give the same top-10 as ours for a sample of users before anything
is timed. Then, in each round and in a rotating order, each server gets the same bounded
`wrk` load (Debian: `apt-get install wrk`), and the script prints per server: requests/s,
p50/p99 latency (median of rounds, worst round), errors, CPU per request (user + system
time of the server's whole process tree over the round, divided by its requests), RSS and
PSS summed over the process tree, and each figure's ratio to ours; throughput ratios are
the median of per-round ratios (a shared machine drifts between rounds).

The servers:

- ours: `python -m scoring` (Flask + gunicorn's gevent worker), `GET /recommendations/<user>?k=10`;
- ours-gthread: the same server with gunicorn's gthread worker (what it ran before), to show
  what the worker class alone changes;
- kserve: KServe's `ModelServer` with a `kserve.Model` holding the same arrays (numpy),
  `POST /v1/models/recommender:predict`, its defaults (access and latency logs on);
- kserve-quiet: the same with `--configure_logging false --enable_latency_logging false`;
- mlflow: `mlflow models serve -w 2 --env-manager local` of a pyfunc over the arrays,
  `POST /invocations`;
- naive: Flask + gunicorn (sync workers) calling `LightFM.predict` over every item and
  `argsort`, `GET /recommend/<user>?k=10`.

The peers are heavy and are not dependencies of this project: install them in throwaway
virtualenvs outside the repository (Python 3.11), and pass their interpreters:

    PEERS="$(mktemp -d)"
    python3 -m venv "$PEERS/kserve"
    "$PEERS/kserve/bin/pip" install kserve==0.21.0 numpy==2.2.6
    python3 -m venv "$PEERS/mlflow"
    "$PEERS/mlflow/bin/pip" install mlflow==3.17.0 numpy==2.2.6
    python bench/peers.py --kserve-python "$PEERS/kserve/bin/python" \\
        --mlflow-python "$PEERS/mlflow/bin/python" [--items 200000] [--rounds 5] [--duration 10]

A peer whose interpreter is not given is left out. Every server is stopped by PID (its
process group) when the script ends, also on failure.
"""

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scale
import scoring_http

# The peers' model code: the same arrays, the same exact top-k (ties by item index), in
# plain numpy as a user of each framework would write it.
COMMON = r"""
import json
from pathlib import Path

import numpy as np


class Arrays:
    def __init__(self, folder):
        folder = Path(folder)
        load = lambda name: np.load(folder / name, allow_pickle=False)
        self.user_emb = load("user_embeddings.npy")
        self.user_bias = load("user_biases.npy")
        self.item_emb = load("item_embeddings.npy")
        self.item_bias = load("item_biases.npy")
        self.indptr = load("seen_indptr.npy")
        self.indices = load("seen_indices.npy")
        users = json.loads((folder / "user_ids.json").read_text())
        self.user_ids = {u: i for i, u in enumerate(users)}
        self.item_ids = json.loads((folder / "item_ids.json").read_text())

    def top_k(self, user_id, k):
        u = self.user_ids[user_id]
        scores = self.item_emb @ self.user_emb[u]
        scores += self.item_bias
        scores[self.indices[self.indptr[u] : self.indptr[u + 1]]] = -np.inf
        n = scores.size
        kth = np.partition(scores, n - k)[n - k]
        cand = np.flatnonzero(scores >= kth)
        top = cand[np.lexsort((cand, -scores[cand]))][:k]
        bias = float(self.user_bias[u])
        return [
            {"item_id": self.item_ids[i], "score": bias + float(scores[i])} for i in top.tolist()
        ]
"""

KSERVE = r"""
import argparse, sys
from kserve import Model, ModelServer, model_server

class Recommender(Model):
    def __init__(self, name, folder):
        super().__init__(name)
        self.arrays = Arrays(folder)
        self.ready = True

    def predict(self, payload, headers=None):
        return {"predictions": [
            self.arrays.top_k(str(x["user_id"]), int(x.get("k", 10))) for x in payload["instances"]
        ]}

if __name__ == "__main__":  # workers > 1 start processes with multiprocessing's spawn
    parser = argparse.ArgumentParser(parents=[model_server.parser])
    parser.add_argument("--model_dir", required=True)
    args, _ = parser.parse_known_args()
    ModelServer().start([Recommender("recommender", args.model_dir)])
"""

MLFLOW_SAVE = r"""
import sys
import mlflow.pyfunc

class Recommender(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.arrays = Arrays(context.artifacts["model"])

    def predict(self, context, model_input, params=None):
        return [
            self.arrays.top_k(str(u), int(k))
            for u, k in zip(model_input["user_id"], model_input["k"])
        ]

mlflow.pyfunc.save_model(sys.argv[2], python_model=Recommender(), artifacts={"model": sys.argv[1]})
"""

NAIVE = r"""
import json, os
from pathlib import Path
import numpy as np
from flask import Flask, jsonify, request
from lightfm import LightFM

folder = Path(os.environ["MODEL_DIR"])
load = lambda name: np.load(folder / name)
model = LightFM(no_components=load("user_embeddings.npy").shape[1])
user_ids = json.loads((folder / "user_ids.json").read_text())
item_ids = json.loads((folder / "item_ids.json").read_text())
model._initialize(model.no_components, len(item_ids), len(user_ids))
for name in ("user_embeddings", "user_biases", "item_embeddings", "item_biases"):
    setattr(model, name, load(name + ".npy"))
index = {u: i for i, u in enumerate(user_ids)}
indptr, indices = load("seen_indptr.npy"), load("seen_indices.npy")
all_items = np.arange(len(item_ids), dtype=np.int32)
app = Flask(__name__)

@app.get("/recommend/<user_id>")
def recommend(user_id):
    u = index[user_id]
    k = int(request.args.get("k", 10))
    scores = model.predict(u, all_items)
    scores[indices[indptr[u] : indptr[u + 1]]] = -np.inf
    top = np.argsort(-scores, kind="stable")[:k]
    return jsonify({"items": [{"item_id": item_ids[i], "score": float(scores[i])} for i in top]})
"""

LUA = r"""
local requests_ = {%(requests)s}
local i = 0
request = function()
  i = i + 1
  local r = requests_[(i %% #requests_) + 1]
  if r[2] == nil then
    return wrk.format("GET", r[1])
  end
  return wrk.format("POST", r[1], {["Content-Type"] = "application/json"}, r[2])
end
"""


class Server:
    """One peer: how to start it, ask it for a top-10, and what wrk sends it."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int) -> None:
        self.name, self.argv, self.env, self.port = name, argv, env, port
        self.process: subprocess.Popen | None = None

    def start(self, workdir: Path) -> None:
        log = (workdir / f"{self.name}.log").open("wb")
        self.process = subprocess.Popen(
            self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def request(self, user: str) -> tuple[str, bytes | None]:
        raise NotImplementedError

    def items(self, answer: dict) -> list[str]:
        raise NotImplementedError

    def top10(self, user: str) -> list[str]:
        path, body = self.request(user)
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=body,
            headers={"Content-Type": "application/json"} if body else {},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return self.items(json.loads(response.read()))

    def ready(self, user: str) -> bool:
        try:
            self.top10(user)
        except (OSError, urllib.error.URLError, ValueError):
            return False
        return True


class Ours(Server):
    def request(self, user: str) -> tuple[str, bytes | None]:
        return f"/recommendations/{urllib.request.quote(user, safe='')}?k=10", None

    def items(self, answer: dict) -> list[str]:
        return [item["item_id"] for item in answer["items"]]


class Naive(Ours):
    def request(self, user: str) -> tuple[str, bytes | None]:
        return f"/recommend/{urllib.request.quote(user, safe='')}?k=10", None


class KServe(Server):
    def request(self, user: str) -> tuple[str, bytes | None]:
        body = {"instances": [{"user_id": user, "k": 10}]}
        return "/v1/models/recommender:predict", json.dumps(body).encode()

    def items(self, answer: dict) -> list[str]:
        return [item["item_id"] for item in answer["predictions"][0]]


class MLflow(Server):
    def request(self, user: str) -> tuple[str, bytes | None]:
        body = {"dataframe_records": [{"user_id": user, "k": 10}]}
        return "/invocations", json.dumps(body).encode()

    def items(self, answer: dict) -> list[str]:
        return [item["item_id"] for item in answer["predictions"][0]]


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                queue += [int(p) for p in (task / "children").read_text().split()]
    return found


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def memory(pids: list[int]) -> tuple[int, int]:
    rss = pss = 0
    for pid in pids:
        fields = scale.rollup(pid)
        rss += fields.get("Rss", 0)
        pss += fields.get("Pss", 0)
    return rss, pss


def run_wrk(server: Server, users: list[str], args: argparse.Namespace, workdir: Path) -> dict:
    entries = []
    for user in users:
        path, body = server.request(user)
        entries.append(
            "{"
            + json.dumps(path)
            + ("" if body is None else ", " + json.dumps(body.decode()))
            + "}"
        )
    script = workdir / f"{server.name}.lua"
    script.write_text(LUA % {"requests": ", ".join(entries)} + scoring_http.WRK_REPORT)
    pids = tree(server.process.pid)
    before = cpu_seconds(pids)
    command = [
        *("wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s"),
        *("--timeout", "5s", "-s", str(script), f"http://127.0.0.1:{server.port}"),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    used = cpu_seconds(pids) - before
    result = scoring_http.wrk_result(output)
    result["cpu_ms"] = used * 1e3 / max(result["requests"], 1)
    result["rss"], result["pss"] = memory(pids)
    return result


def synthetic_model(root: Path, items: int) -> str:
    uri, _ = scale.publish_synthetic(root / "models", 10_000, items, 64, 20)
    return uri


def servers(args: argparse.Namespace, folder: Path, workdir: Path) -> list[Server]:
    env = scoring_http.clean_env(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    found: list[Server] = []
    port = scale.free_port()
    found.append(
        Ours(
            "ours",
            [sys.executable, "-m", "scoring"],
            {**env, "MODEL_URI": str(folder), "HOST": "127.0.0.1", "PORT": str(port)},
            port,
        )
    )
    port = scale.free_port()
    gthread = {**env, "MODEL_URI": str(folder), "HOST": "127.0.0.1", "PORT": str(port)}
    # Command-line settings win over the config file: only the worker class differs.
    gthread["GUNICORN_CMD_ARGS"] = "--worker-class gthread"
    found.append(Ours("ours-gthread", [sys.executable, "-m", "scoring"], gthread, port))
    if args.kserve_python:
        script = workdir / "kserve_server.py"
        script.write_text(COMMON + KSERVE)
        for name, extra in (
            ("kserve", []),
            ("kserve-quiet", ["--configure_logging", "false", "--enable_latency_logging", "false"]),
        ):
            port = scale.free_port()
            argv = [
                *(args.kserve_python, str(script), "--model_dir", str(folder)),
                *("--http_port", str(port), "--grpc_port", str(scale.free_port())),
                *("--workers", "2", *extra),
            ]
            found.append(KServe(name, argv, env, port))
    if args.mlflow_python:
        script = workdir / "mlflow_save.py"
        script.write_text(COMMON + MLFLOW_SAVE)
        saved = workdir / "mlflow-model"
        subprocess.run(
            [args.mlflow_python, str(script), str(folder), str(saved)],
            check=True,
            capture_output=True,
            env=env,
        )
        port = scale.free_port()
        mlflow = str(Path(args.mlflow_python).with_name("mlflow"))
        argv = [
            *(mlflow, "models", "serve", "-m", str(saved), "--env-manager", "local"),
            *("-w", "2", "-h", "127.0.0.1", "-p", str(port)),
        ]
        # `mlflow models serve` runs `uvicorn` from PATH: the venv's own.
        path = f"{Path(args.mlflow_python).parent}{os.pathsep}{env.get('PATH', '')}"
        found.append(MLflow("mlflow", argv, {**env, "PATH": path}, port))
    script = workdir / "naive_app.py"
    script.write_text(NAIVE)
    port = scale.free_port()
    argv = [
        *(sys.executable, "-m", "gunicorn", "--chdir", str(workdir), "-w", "2"),
        *("-b", f"127.0.0.1:{port}", "naive_app:app"),
    ]
    found.append(Naive("naive", argv, {**env, "MODEL_DIR": str(folder)}, port))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=0, help="synthetic catalogue size")
    parser.add_argument("--kserve-python", help="interpreter of a venv with kserve")
    parser.add_argument("--mlflow-python", help="interpreter of a venv with mlflow")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10, help="seconds per server a round")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--check-users", type=int, default=50)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `apt-get install wrk` (Debian/Ubuntu)")
    workdir = Path(tempfile.mkdtemp(prefix="peers-bench-"))
    running: list[Server] = []
    try:
        uri = synthetic_model(workdir, args.items) if args.items else scoring_http.train(workdir)
        folder = Path(uri)
        users = json.loads((folder / "user_ids.json").read_text())
        random.Random(0).shuffle(users)
        for server in servers(args, folder, workdir):
            server.start(workdir)
            running.append(server)
        deadline = time.monotonic() + 300
        for server in running:
            while not server.ready(users[0]):
                if server.process.poll() is not None or time.monotonic() > deadline:
                    log = (workdir / f"{server.name}.log").read_text()[-3000:]
                    raise SystemExit(f"{server.name} did not start:\n{log}")
                time.sleep(0.5)
        # Same answers first: a throughput comparison is only fair between servers that
        # answer alike.
        ours = running[0]
        expected = {user: ours.top10(user) for user in users[: args.check_users]}
        agree = {
            server.name: sum(server.top10(u) == expected[u] for u in expected)
            for server in running[1:]
        }
        for name, count in agree.items():
            print(f"{name}: same top-10 as ours for {count}/{len(expected)} users")
            if count < len(expected) and name != "naive":
                raise SystemExit(f"{name} disagrees with ours; the comparison would be unfair")
        sample = users[:2000]
        for server in running:  # warm-up
            run_wrk(server, sample, argparse.Namespace(**{**vars(args), "duration": 2}), workdir)
        results: dict[str, list[dict]] = {server.name: [] for server in running}
        for n in range(args.rounds):
            rotated = running[n % len(running) :] + running[: n % len(running)]
            for server in rotated:
                results[server.name].append(run_wrk(server, sample, args, workdir))
        load = os.getloadavg()
        print(
            f"\nmodel: {folder.name} ({len(users)} users); 2 workers each; wrk -t{args.threads} "
            f"-c{args.connections}, {args.rounds} rotating rounds of {args.duration}s; load "
            f"average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores"
        )
        mib = 1024 * 1024
        print(
            f"{'server':<13} {'req/s':>8} {'x ours':>7} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'errors':>6} {'CPU ms/req':>10} {'x ours':>7} {'RSS MiB':>8} {'PSS MiB':>8}"
        )
        base = results["ours"]
        for name, rounds in results.items():
            ratios = [r["rps"] / b["rps"] for r, b in zip(rounds, base, strict=True)]
            cpu = statistics.median(r["cpu_ms"] for r in rounds)
            cpu_ours = statistics.median(r["cpu_ms"] for r in base)
            print(
                f"{name:<13} {statistics.median(r['rps'] for r in rounds):8.0f} "
                f"{statistics.median(ratios):6.2f}x "
                f"{statistics.median(r['p50_us'] for r in rounds) / 1e3:7.2f} "
                f"{max(r['p99_us'] for r in rounds) / 1e3:7.2f} "
                f"{sum(r['errors'] for r in rounds):6d} {cpu:10.3f} {cpu / cpu_ours:6.2f}x "
                f"{rounds[-1]['rss'] / mib:8.0f} {rounds[-1]['pss'] / mib:8.0f}"
            )
        print(
            "per-round req/s ratio to ours (range): "
            + ", ".join(
                f"{name} {min(r['rps'] / b['rps'] for r, b in zip(rs, base, strict=True)):.2f}-"
                f"{max(r['rps'] / b['rps'] for r, b in zip(rs, base, strict=True)):.2f}"
                for name, rs in results.items()
                if name != "ours"
            )
        )
        for name, rounds in results.items():
            per_round = [r["errors"] for r in rounds]
            if any(per_round):
                print(
                    f"{name} errors: "
                    + ", ".join(
                        f"{kind} {sum(r[kind] for r in rounds)}"
                        for kind in scoring_http.WRK_ERROR_KINDS
                    )
                    + f"; per round {per_round}"
                )
    finally:
        for server in running:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
