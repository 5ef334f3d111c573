"""The process heap of a long-running daemon, on glibc (elsewhere nothing happens).

Two things Python services do so that RSS follows what is live rather than what
was ever allocated:

- :func:`limit_arenas`, at startup before any thread: every thread that
  allocates gets a glibc malloc arena of its own (up to eight per core), and an
  arena's free space goes back to no other thread. The worker threads of the
  daemon (the rendering of ``/metrics``, the alert evaluation, the status page)
  would each keep one. Two arenas are enough for one event loop and its workers.
- :func:`trim`, after the heap has shrunk (a collection replaced a family's
  data): ``malloc_trim(0)`` returns the free pages inside every arena, which
  glibc otherwise keeps (it gives back only the top of the main heap).
"""

from __future__ import annotations

import ctypes
import os
from functools import cache

__all__ = ["limit_arenas", "trim"]

#: ``M_ARENA_MAX`` of glibc's ``<malloc.h>``
_M_ARENA_MAX = -8
#: arenas kept: the event loop's and one the worker threads share
ARENAS = 2


@cache
def _glibc() -> ctypes.CDLL | None:
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
    except (ValueError, OSError, AttributeError):
        return None  # not glibc (musl, macOS, Windows): nothing to tune
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    if not hasattr(libc, "mallopt") or not hasattr(libc, "malloc_trim"):
        return None
    return libc


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas (call before any thread starts); whether it did."""
    libc = _glibc()
    return libc is not None and bool(libc.mallopt(_M_ARENA_MAX, arenas))


def trim() -> bool:
    """Give the heap's free pages back to the system; whether any were."""
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))
