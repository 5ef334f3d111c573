"""Splitting many accounts across replicas: ``shard: i/N`` (or ``auto/N``).

An account belongs to shard ``sha256(name) mod N``: stable across restarts,
machines and Python versions, and independent of the order of the config.
``auto/N`` takes ``i`` from the host name's trailing ``-<ordinal>`` — the pod
name of a Kubernetes StatefulSet (``ivh-monitor-2`` → shard 2) — so every
replica can share one config.
"""

from __future__ import annotations

import hashlib
import re
import socket
from collections.abc import Sequence
from typing import TypeVar

__all__ = ["parse_shard", "select", "shard_of"]

_SHARD = re.compile(r"^(?P<index>\d+|auto)/(?P<total>\d+)$")
_ORDINAL = re.compile(r"-(\d+)$")

T = TypeVar("T")


def shard_of(name: str, total: int) -> int:
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % total


def parse_shard(value: str, hostname: str | None = None) -> tuple[int, int]:
    """``"i/N"`` or ``"auto/N"`` → ``(i, N)``; ``ValueError`` says what is wrong."""
    match = _SHARD.match(value.strip())
    if match is None:
        raise ValueError("must be i/N (e.g. 0/3) or auto/N (ordinal from the host name)")
    total = int(match["total"])
    if total < 1:
        raise ValueError("N must be at least 1")
    if match["index"] == "auto":
        host = hostname if hostname is not None else socket.gethostname()
        ordinal = _ORDINAL.search(host)
        if ordinal is None:
            raise ValueError(
                f"auto/N needs a host name ending in -<ordinal> (a StatefulSet pod), got {host!r}"
            )
        index = int(ordinal[1])
    else:
        index = int(match["index"])
    if index >= total:
        raise ValueError(f"shard {index} does not exist in {total} shards (0..{total - 1})")
    return index, total


def select(items: Sequence[T], names: Sequence[str], index: int, total: int) -> list[T]:
    """The items (e.g. accounts) whose name falls into shard ``index`` of ``total``."""
    return [item for item, name in zip(items, names, strict=True) if shard_of(name, total) == index]
