"""Prometheus metrics for the scoring server, labelled by the model version that answered.

gunicorn runs several worker processes, so `python -m scoring` points
PROMETHEUS_MULTIPROC_DIR at a fresh directory before anything imports prometheus-client;
each worker then writes its samples there and `/metrics`, whichever worker answers it,
aggregates all of them.
"""

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter(
    "scoring_requests_total",
    "HTTP requests answered, by model version, endpoint and status.",
    ["model_version", "endpoint", "method", "status"],
)
ERRORS = Counter(
    "scoring_request_errors_total",
    "HTTP requests answered with a 4xx or 5xx status.",
    ["model_version", "endpoint", "status"],
)
LATENCY = Histogram(
    "scoring_request_duration_seconds",
    "Time from request start to response, in the worker.",
    ["model_version", "endpoint"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
# Model-aware signals for canary analysis: what a version answers, not only how fast.
RECOMMENDATIONS = Counter(
    "scoring_recommendations_total",
    "Recommendation answers, by model version and fallback (none, or popularity for an "
    "unknown user).",
    ["model_version", "fallback"],
)
# Top-1 scores of a healthy LightFM model sit in a few units; the wide outer buckets keep a
# diverged model's scores (hundreds, or far below zero) measurable instead of clipped.
TOP_SCORE = Histogram(
    "scoring_top_score",
    "Score of the best item in each personalised recommendation answer.",
    ["model_version"],
    buckets=(
        -1000.0,
        -100.0,
        -10.0,
        -5.0,
        -2.0,
        -1.0,
        -0.5,
        0.0,
        0.5,
        1.0,
        1.5,
        2.0,
        2.5,
        3.0,
        4.0,
        5.0,
        6.0,
        8.0,
        10.0,
        15.0,
        20.0,
        50.0,
        100.0,
        1000.0,
    ),
)
FALLBACKS = ("none", "popularity")
MODEL_READY = Gauge(
    "scoring_model_ready",
    "1 when the model is loaded and verified in every live worker.",
    ["model_version"],
    multiprocess_mode="livemin",
)
# `unavailable` is retried; `corrupt` and `unopenable` are final: that worker never serves.
LOAD_FAILURE_REASONS = ("unavailable", "corrupt", "unopenable")
MODEL_LOAD_FAILURES = Counter(
    "scoring_model_load_failures_total",
    "Failed attempts to load the model, by reason: unavailable (retried), corrupt or "
    "unopenable (final).",
    ["model_version", "reason"],
)


# Label children by label values: `labels()` takes a lock and validates on every call,
# and the set of (version, endpoint, method, status) a server answers with is small.
_children: dict[tuple[str, str, str, int], tuple] = {}


def observe(version: str, endpoint: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request."""
    key = (version, endpoint, method, status)
    children = _children.get(key)
    if children is None:
        children = (
            REQUESTS.labels(version, endpoint, method, str(status)),
            LATENCY.labels(version, endpoint),
            ERRORS.labels(version, endpoint, str(status)) if status >= 400 else None,
        )
        _children[key] = children
    requests, latency, errors = children
    requests.inc()
    latency.observe(seconds)
    if errors is not None:
        errors.inc()


def start_version(version: str) -> None:
    """Create this version's series at zero before any answer.

    Prometheus counts an increase only between two samples, so a series that first
    appears already at 5 hides those 5 from `rate()`; zeros scraped first make every
    answer count.
    """
    for fallback in FALLBACKS:
        RECOMMENDATIONS.labels(version, fallback)
    TOP_SCORE.labels(version)


_answer_children: dict[tuple[str, str], tuple] = {}


def observe_recommendation(version: str, fallback: str | None, top_score: float | None) -> None:
    """Count one recommendation answer: its fallback and, when personalised, its best score."""
    key = (version, fallback or "none")
    children = _answer_children.get(key)
    if children is None:
        children = (RECOMMENDATIONS.labels(*key), TOP_SCORE.labels(version))
        _answer_children[key] = children
    answers, top = children
    answers.inc()
    if fallback is None and top_score is not None:
        top.observe(top_score)


def render() -> tuple[bytes, str]:
    """The exposition text for all workers (or this process when not under gunicorn)."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST


def worker_exited(pid: int) -> None:
    """Drop a dead worker's live gauges (called from gunicorn's child_exit hook)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)
