"""What one worker is serving, and the background loop that loads it.

In a pod the model is the local copy the init container made, and the gunicorn master
loads it once before the workers fork (`preload`): its memory maps, id maps and checks are
then shared by every worker, which starts ready. Otherwise (the copy is not there yet, is
corrupt, or the model is read from a store) a worker starts answering liveness at once and
loads its model in a thread: a model that is not published yet is retried with exponential
backoff (the pod stays alive and not ready, no crash loop), a corrupt one is reported once,
loudly, and never served. Requests read `state.model` once, so a request never sees half a
model.
"""

import ctypes
import logging
import threading
import time
from collections.abc import Callable

from mlrelease.errors import InputError
from mlrelease.store import open_store
from mlrelease.store.artifact import ModelCorruptError, ModelNotReadyError, backoff_delays
from mlrelease.store.local import LocalStore
from scoring import metrics
from scoring import model as model_module
from scoring.model import LoadedModel
from scoring.settings import Settings

log = logging.getLogger("scoring")

FIRST_RETRY_SECONDS = 0.5

# (MODEL_URI, model) loaded by the gunicorn master before the fork; workers inherit it.
_preloaded: tuple[str, LoadedModel] | None = None


def preload(settings: Settings) -> bool:
    """Load a local model once in the gunicorn master so that every worker shares it.

    Only a local folder (the pod's copy) is preloaded. Any failure is left to the workers,
    whose loader reports it and retries as usual; True when the model was loaded.
    """
    global _preloaded
    if not isinstance(open_store(settings.model_uri), LocalStore):
        return False
    try:
        loaded = model_module.load(settings.model_uri, settings.model_version or None)
    except Exception as error:  # the workers load, retry and report it themselves
        log.info("model not preloaded in the master (%s); each worker loads it", error)
        return False
    _release_free_memory()
    _preloaded = (settings.model_uri, loaded)
    log.info("model %s preloaded from %s; the workers share it", loaded.version, settings.model_uri)
    return True


def _release_free_memory() -> None:
    """Give the memory freed after loading (parsed id lists, check buffers) back to the OS.

    glibc keeps freed blocks in its arenas, and the loader thread's arena is not trimmed
    on its own: without this each worker keeps tens of MB it no longer uses, as much as
    the model's own share of a pod's memory at four workers. A no-op off glibc.
    """
    try:
        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return
    trim.argtypes = [ctypes.c_size_t]
    trim(0)


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
        _release_free_memory()
        self._serve(loaded)
        return True

    def _serve(self, loaded: LoadedModel) -> None:
        self.version = loaded.version or self.version
        self.model = loaded
        metrics.MODEL_READY.labels(self.version).set(1)
        self.reason = ""
        rec = loaded.recommender
        log.info(
            "serving model %s from %s (%d users, %d items)",
            self.version,
            self.settings.model_uri,
            rec.n_users,
            rec.n_items,
        )

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
        """Serve the master's preloaded model, or load in the background so the worker
        answers liveness while the model loads."""
        if (
            _preloaded is not None
            and _preloaded[0] == self.settings.model_uri
            and self._loader is model_module.load
        ):
            self._serve(_preloaded[1])
            return
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
