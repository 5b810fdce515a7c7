"""Failing closed: a corrupt model is never served, a missing one is waited for in place."""

import re
import time
from pathlib import Path

VERSION_HEADER = "X-Model-Version"


def refusals(server, workers: int = 2, timeout: float = 30.0) -> dict[int, str]:
    """Each worker's /readyz reason once every worker has finished trying to load."""
    deadline = time.monotonic() + timeout
    reasons: dict[int, str] = {}
    while len(reasons) < workers or any("failed verification" not in r for r in reasons.values()):
        assert time.monotonic() < deadline, f"workers did not refuse the model: {reasons}"
        response = server.get("/readyz")
        assert response.status_code == 503
        reasons[response.json()["worker"]] = response.json()["reason"]
        time.sleep(0.02)
    return reasons


def load_failures(server, version: str) -> dict[str, float]:
    """scoring_model_load_failures_total by reason for one version, over every worker."""
    pattern = re.compile(
        rf'^scoring_model_load_failures_total{{model_version="{re.escape(version)}",'
        r'reason="(\w+)"} (\S+)$',
        re.MULTILINE,
    )
    return {reason: float(value) for reason, value in pattern.findall(server.get("/metrics").text)}


def test_a_corrupt_model_is_never_served_and_the_log_names_the_file(
    model_uri, tmp_path, start_server, copy_published
):
    target = tmp_path / "models" / "recommender" / Path(model_uri).name
    copy_published(model_uri, target)
    path = target / "user_embeddings.npy"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10  # same size: only the digest can tell
    path.write_bytes(bytes(data))

    server = start_server(str(target))
    reasons = refusals(server)
    assert all("user_embeddings.npy does not match the sha256" in r for r in reasons.values())
    assert server.get("/readyz").headers[VERSION_HEADER] == target.name
    for response in (
        server.get("/recommendations/u0001"),
        server.get("/recommendations/someone-new"),
        server.post("/scores", json={"pairs": [{"user_id": "u0001", "item_id": "i0001"}]}),
        server.get("/model"),
    ):
        assert response.status_code == 503
        assert "no model is being served" in response.json()["error"]
        assert response.headers[VERSION_HEADER] == target.name
    assert server.get("/healthz").status_code == 200
    log = server.log()
    assert "refusing to serve" in log
    assert "user_embeddings.npy does not match the sha256 in the manifest" in log
    assert server.process.poll() is None
    # One final refusal per worker, counted for the ScoringModelLoadFailed alert.
    assert load_failures(server, target.name) == {"unavailable": 0, "corrupt": 2, "unopenable": 0}


def test_a_missing_model_is_retried_until_published_without_a_restart(
    model_uri, tmp_path, start_server, copy_published
):
    target = tmp_path / "models" / "recommender" / Path(model_uri).name
    server = start_server(str(target), MODEL_VERSION=target.name)
    ready = server.get("/readyz")
    assert ready.status_code == 503
    assert "not published yet" in ready.json()["reason"]
    assert ready.headers[VERSION_HEADER] == target.name
    assert server.get("/recommendations/u0001").status_code == 503
    assert server.get("/healthz").status_code == 200

    time.sleep(1.5)  # a few retries, and a half-written version on the way
    copy_published(model_uri, target, complete=False)
    time.sleep(1.0)
    assert server.get("/readyz").status_code == 503
    copy_published(model_uri, target)

    server.wait_for_every_worker("/readyz", 200)
    response = server.get("/recommendations/u0001", params={"k": "3"})
    assert response.status_code == 200
    assert len(response.json()["items"]) == 3
    log = server.log()
    assert log.count("not published yet") >= 4  # both workers retried, more than once
    assert log.count("Booting worker") == 2  # no worker was restarted
    assert server.process.poll() is None
    failures = load_failures(server, target.name)
    assert failures["unavailable"] >= 4 and failures["corrupt"] == failures["unopenable"] == 0
