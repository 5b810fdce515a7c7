"""What one worker is serving, and the background loop that loads it.

A worker starts answering liveness at once and loads its model in a thread: a model that
is not published yet is retried with exponential backoff (the pod stays alive and not
ready, no crash loop), a corrupt one is reported once, loudly, and never served. Requests
read `state.model` once, so a request never sees half a model.
"""

import logging
import threading
import time
from collections.abc import Callable

from mlrelease.errors import InputError
from mlrelease.store.artifact import ModelCorruptError, ModelNotReadyError, backoff_delays
from scoring import metrics
from scoring import model as model_module
from scoring.model import LoadedModel
from scoring.settings import Settings

log = logging.getLogger("scoring")

FIRST_RETRY_SECONDS = 0.5


class ServingState:
    """The loaded model (or why there is none) for one worker process."""

    def __init__(
        self,
        settings: Settings,
        loader: Callable[[str, str | None], LoadedModel] = model_module.load,
    ) -> None:
        self.settings = settings
        self.version = settings.expected_version
        self.model: LoadedModel | None = None
        self.reason = "the model is loading"
        self.corrupt = False
        self._loader = loader
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        metrics.MODEL_READY.labels(self.version).set(0)
        # Zeros first, so the first failure is an increase that rate() and alerts can see.
        for reason in metrics.LOAD_FAILURE_REASONS:
            metrics.MODEL_LOAD_FAILURES.labels(self.version, reason)
        metrics.start_version(self.version)

    @property
    def ready(self) -> bool:
        return self.model is not None

    def load_once(self) -> bool:
        """Try to load the model; return True when done (loaded or found corrupt)."""
        uri = self.settings.model_uri
        try:
            loaded = self._loader(uri, self.settings.model_version or None)
        except ModelNotReadyError as error:
            self.reason = f"model {uri} is not published yet: {error}"
            self._failed("unavailable")
            log.warning("not ready: %s", self.reason)
            return False
        except InputError as error:  # a bad URI or missing credentials will not heal
            self.reason = f"model {uri} cannot be opened: {error}"
            self._failed("unopenable")
            log.error("refusing to serve: %s", self.reason)
            return True
        except ModelCorruptError as error:
            self.reason = f"model {uri} failed verification and will not be served: {error}"
            self.corrupt = True
            self._failed("corrupt")
            log.error("refusing to serve: %s", self.reason)
            return True
        except Exception as error:  # storage outages and the like: keep retrying
            self.reason = f"could not read model {uri}: {type(error).__name__}: {error}"
            self._failed("unavailable")
            log.warning("not ready: %s", self.reason)
            return False
        self.version = loaded.version or self.version
        self.model = loaded
        metrics.MODEL_READY.labels(self.version).set(1)
        self.reason = ""
        rec = loaded.recommender
        log.info(
            "serving model %s from %s (%d users, %d items)",
            self.version,
            uri,
            rec.n_users,
            rec.n_items,
        )
        return True

    def _failed(self, reason: str) -> None:
        metrics.MODEL_LOAD_FAILURES.labels(self.version, reason).inc()

    def _run(self) -> None:
        # Jittered exponential backoff, so replicas that start together do not poll in step.
        delays = backoff_delays(FIRST_RETRY_SECONDS, float(self.settings.model_retry_seconds))
        while not self._stop.is_set():
            if self.load_once():
                return
            if self._stop.wait(next(delays)):
                return

    def start(self) -> None:
        """Load in the background so the worker answers liveness while the model loads."""
        self._thread = threading.Thread(target=self._run, name="model-loader", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_loaded(self, timeout: float) -> bool:
        """Block until the loader finished (tests and benchmarks); True when ready."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._thread and self._thread.is_alive():
            self._thread.join(0.05)
        return self.ready
