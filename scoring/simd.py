"""SimSIMD's in-place kernels, minus the reference to None each of their calls gives away.

With `out=`, SimSIMD 6.5's `cdist` and `fma` return None without taking the reference a C
function owes its caller (its python/lib.c sets `return_obj = Py_None;` with no
Py_INCREF). The interpreter drops that reference as for any result, so every call takes
one from None's count. On Python 3.11, where None is counted like any object, that count
is about 19,000 in a fresh worker and a large-catalogue request makes two such calls, so
a worker died with "Fatal Python error: none_dealloc" after about 10,000 requests,
dropping every connection it held (at 200k items, under load, about every 30 s). Each
call here gives None its reference back.

Whether the installed SimSIMD needs that is measured once, at import, for each kernel: a
release that fixes it, or a Python whose None is immortal (3.12 and later), gets plain
calls.
"""

import ctypes
import sys
from collections.abc import Callable

import numpy as np
import simsimd

_incref = ctypes.pythonapi.Py_IncRef
_incref.argtypes = [ctypes.py_object]
_incref.restype = None

# Calls made to see whether a kernel gives references away; well above any noise.
_PROBE_CALLS = 256


def inner_products(out: np.ndarray, query: np.ndarray, rows: np.ndarray) -> None:
    """out[0, j] = query[0] . rows[j], for int8 `query` (1 x d) and `rows` (n x d)."""
    simsimd.cdist(query, rows, metric="inner", out_dtype="float32", out=out)
    if _CDIST_GIVES_NONE_AWAY:
        _incref(None)


def scale_and_shift(
    values: np.ndarray, scales: np.ndarray, shifts: np.ndarray, alpha: float
) -> None:
    """values = alpha * values * scales + shifts, in place (float32)."""
    simsimd.fma(values, scales, shifts, alpha=alpha, beta=1.0, out=values)
    if _FMA_GIVES_NONE_AWAY:
        _incref(None)


def _gives_none_away(call: Callable[[], object]) -> bool:
    before = sys.getrefcount(None)
    for _ in range(_PROBE_CALLS):
        call()
    return before - sys.getrefcount(None) >= _PROBE_CALLS


def _probe_cdist() -> None:
    rows = np.ones((2, 8), dtype=np.int8)
    simsimd.cdist(
        rows[:1], rows, metric="inner", out_dtype="float32", out=np.empty((1, 2), np.float32)
    )


def _probe_fma() -> None:
    values = np.ones(4, dtype=np.float32)
    simsimd.fma(values, values, values, alpha=1.0, beta=1.0, out=values)


_CDIST_GIVES_NONE_AWAY = _gives_none_away(_probe_cdist)
_FMA_GIVES_NONE_AWAY = _gives_none_away(_probe_fma)
