"""The heap hooks of a long-running daemon (glibc's malloc arenas and trimming)."""

from __future__ import annotations

import os

import pytest

from monitor import heap

_GLIBC = bool(getattr(os, "confstr", None) and os.confstr("CS_GNU_LIBC_VERSION"))


@pytest.mark.skipif(not _GLIBC, reason="glibc only")
def test_on_glibc_the_arenas_are_capped_and_the_heap_trimmed() -> None:
    assert heap.limit_arenas() is True
    blocks = [bytearray(64 * 1024) for _ in range(200)]  # ~13 MB, then freed
    del blocks
    assert isinstance(heap.trim(), bool)


@pytest.mark.skipif(_GLIBC, reason="not glibc")
def test_elsewhere_nothing_happens() -> None:
    assert heap.limit_arenas() is False
    assert heap.trim() is False
