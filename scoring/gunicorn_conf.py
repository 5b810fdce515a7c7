"""Every gunicorn setting of the scoring server, derived from the scoring environment.

`python -m scoring` runs gunicorn with this file only, so the container command, the tests
and the benchmarks start exactly the same server. Logs go to stderr (results and access
logs are not needed on stdout; Kubernetes collects both streams anyway).
"""

import gc
import logging
import os
import shutil
import sys
import tempfile

from scoring import settings as settings_module

# prometheus-client picks its multi-process mode when first imported, so the directory
# must exist before `scoring.metrics` is imported (below, and in every worker).
_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_OWN_METRICS_DIR = _MULTIPROC_ENV not in os.environ
if _OWN_METRICS_DIR:
    os.environ[_MULTIPROC_ENV] = tempfile.mkdtemp(prefix="scoring-metrics-")

# One BLAS thread per worker: the workers already use the cores, and threads of their own
# would fight each other. The top-k scan itself is one thread (scoring.recommender); this
# keeps any numpy call that reaches BLAS to one thread too.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

# The app's code is imported once here, in the master, before the workers fork: Python,
# numpy and Flask's modules are then pages the workers share instead of one private copy
# each, which is most of a worker's own memory once the model itself is shared (see
# bench/scale.py).
import scoring.app  # noqa: E402
import scoring.model  # noqa: E402, F401
from scoring import balance, metrics, rejections, state  # noqa: E402

_settings = settings_module.from_environ()

# The pod's model copy is loaded here, once, and every worker forks with it (scoring.state).
state.preload(_settings)

# Objects that exist before the fork are never collected, so the collector does not touch
# (and thereby copy) the shared pages they live in.
gc.freeze()

wsgi_app = "scoring.wsgi:app"
proc_name = "scoring"
_host = _settings.host
bind = [f"[{_host}]:{_settings.port}" if ":" in _host else f"{_host}:{_settings.port}"]
workers = _settings.workers
threads = _settings.threads
# Connections stay alive either way, so the mesh sidecar (or a load generator) does not pay
# a TCP handshake per request. One thread (the default): an event loop per worker, with no
# hand-off between threads per request (scoring.worker). Scoring is CPU-bound numpy work,
# so more THREADS (gthread) only help while a request waits on I/O.
worker_class = "scoring.worker.ScoringWorker" if threads == 1 else "gthread"
timeout = _settings.timeout
graceful_timeout = 10
keepalive = 5
# Ids travel in the path; bounded request lines and headers keep hostile requests cheap.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# gunicorn answers those limits itself; in the service's JSON error shape, not HTML.
rejections.install(
    _settings.expected_version,
    line=limit_request_line,
    fields=limit_request_fields,
    field_size=limit_request_field_size,
)
# No control socket: the root filesystem is read-only and nothing administers workers live.
control_socket_disable = True
accesslog = None
errorlog = "-"
loglevel = "info"
# The app logs under "scoring" in gunicorn's format, to stderr. A logconfig_dict would also
# switch gunicorn's access log on, which costs throughput and says less than /metrics.
_handler = logging.StreamHandler(sys.stderr)
_handler.setFormatter(
    logging.Formatter(
        "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s", "[%Y-%m-%d %H:%M:%S %z]"
    )
)
logging.getLogger("scoring").addHandler(_handler)
logging.getLogger("scoring").setLevel(logging.INFO)


def pre_fork(server: object, worker: object) -> None:
    """Give the worker about to start its place in the connection table (scoring.balance)."""
    worker.connection_slot = balance.TABLE.claim()  # type: ignore[attr-defined]


def child_exit(server: object, worker: object) -> None:
    """A dead worker's live gauges and connections must not count any more."""
    metrics.worker_exited(worker.pid)  # type: ignore[attr-defined]
    balance.TABLE.release(getattr(worker, "connection_slot", None))


def on_exit(server: object) -> None:
    """Remove the metrics directory this config created."""
    if _OWN_METRICS_DIR:
        shutil.rmtree(os.environ[_MULTIPROC_ENV], ignore_errors=True)
