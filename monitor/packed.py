"""Pieces of a ``/metrics`` body kept deflated, and the bodies made of them.

At 10k assets the per-asset lines are ~8.6 MB of text, kept between scrapes (they
change only when a collection changes what they show) and more than a tenth of the
daemon's RSS. Kept deflated they are ~0.8 MB, and a gzip scrape, which is what
Prometheus asks for, is made of them as they are: a gzip member's deflate stream may
be any run of deflate blocks, and each piece is one ended by a full flush
(byte-aligned, referring to nothing before it), so pieces in any order and company
make one valid stream (RFC 1951/1952). Its CRC-32 is combined from the pieces' own
(:func:`crc_combine`), never computed over the text again. A plain scrape inflates
the pieces as it writes them, a batch at a time, so no second plain copy of the body
is held either.

A :data:`Piece` is either the plain ``bytes`` (what changes every scrape, and small
fixed text such as the families' headers) or a :class:`Packed` one.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["Gzipper", "Packed", "Piece", "batches", "crc_combine", "pack", "size_of", "unpack"]

#: zlib's default level: the gzip scrapes' size as before, ~6 ms of CPU per MB packed
LEVEL = 6
_MASK = 0xFFFFFFFF
#: zeros to run the CRC register over (:func:`crc_combine`), a block at a time
_ZEROS = bytes(64 * 1024)
#: a gzip member's header: no name, no mtime, deflate, unknown OS (RFC 1952)
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
#: an empty final deflate block (fixed Huffman codes, BFINAL set): ends the stream
_DEFLATE_END = b"\x03\x00"


@dataclass(frozen=True, slots=True)
class Packed:
    """Text kept as a raw deflate stream ended by a full flush (no final block),
    with the CRC-32 and length of the text."""

    data: bytes
    crc: int
    size: int


Piece = bytes | Packed


def _deflated(text: bytes, level: int) -> bytes:
    packer = zlib.compressobj(level, zlib.DEFLATED, -15)
    return packer.compress(text) + packer.flush(zlib.Z_FULL_FLUSH)


def pack(text: bytes, level: int = LEVEL) -> Packed:
    """``text`` deflated as a piece of any body."""
    return Packed(_deflated(text, level), zlib.crc32(text), len(text))


def unpack(piece: Piece) -> bytes:
    """The text of a piece."""
    if isinstance(piece, bytes):
        return piece
    unpacker = zlib.decompressobj(-15)
    return unpacker.decompress(piece.data) + unpacker.flush()


def size_of(piece: Piece) -> int:
    """The length of a piece's text."""
    return len(piece) if isinstance(piece, bytes) else piece.size


def crc_combine(crc: int, more: int, size: int) -> int:
    """The CRC-32 of ``a + b`` from ``crc`` (of ``a``), ``more`` (of ``b``) and
    ``size`` (of ``b``), as zlib's ``crc32_combine``, which Python's zlib lacks.

    The CRC register is linear: ``crc32(b, crc) == more ^ M(crc)``, where ``M`` runs
    the register over ``size`` zero bytes, and ``M(r) == ~crc32(zeros, ~r)``. Running
    it over zeros costs what a CRC of ``b`` would (zlib's C, the GIL released), but
    needs no ``b``."""
    register = ~crc & _MASK
    whole, rest = divmod(size, len(_ZEROS))
    for _ in range(whole):
        register = zlib.crc32(_ZEROS, register)
    if rest:
        register = zlib.crc32(memoryview(_ZEROS)[:rest], register)
    return more ^ (~register & _MASK)


def batches(pieces: Iterable[Piece], size: int) -> Iterator[bytes]:
    """The pieces' text in batches of at least ``size`` bytes (but the last), each
    inflated only as its batch is made: one batch is held at a time, never the body."""
    batch: list[bytes] = []
    held = 0
    for piece in pieces:
        text = unpack(piece)
        batch.append(text)
        held += len(text)
        if held >= size:
            yield b"".join(batch)
            batch, held = [], 0
    if batch:
        yield b"".join(batch)


class Gzipper:
    """Gzips a body from its pieces: packed ones as they are, plain ones deflated once
    while they stay in the bodies asked for (the renders hand back the same ``bytes``
    objects while nothing changed; they are kept only while the last body had them,
    so this holds at most one body's plain pieces, deflated)."""

    def __init__(self, level: int = LEVEL) -> None:
        self._level = level
        #: by id of the part: (the part, kept alive so the id stays its, its piece)
        self._packed: dict[int, tuple[bytes, Packed]] = {}

    def __call__(self, pieces: Iterable[Piece]) -> bytes:
        known = self._packed
        packed: dict[int, tuple[bytes, Packed]] = {}
        out = [_GZIP_HEADER]
        crc, size = 0, 0
        for piece in pieces:
            if isinstance(piece, bytes):
                if not piece:
                    continue
                hit = known.get(id(piece))
                if hit is None or hit[0] is not piece:
                    hit = (piece, pack(piece, self._level))
                packed[id(piece)] = hit
                out.append(hit[1].data)
                crc = zlib.crc32(piece, crc)
                size += len(piece)
            elif piece.size:
                out.append(piece.data)
                crc = crc_combine(crc, piece.crc, piece.size)
                size += piece.size
        out.append(_DEFLATE_END)
        out.append((crc & _MASK).to_bytes(4, "little"))
        out.append((size & _MASK).to_bytes(4, "little"))
        self._packed = packed  # a racing scrape's pieces are lost, not wrong
        return b"".join(out)
