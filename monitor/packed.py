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

__all__ = [
    "Gzipper",
    "Packed",
    "Piece",
    "batches",
    "crc_combine",
    "pack",
    "shift_of",
    "size_of",
    "unpack",
]

#: zlib's default level: the gzip scrapes' size as before, ~6 ms of CPU per MB packed
LEVEL = 6
_MASK = 0xFFFFFFFF
#: CRC-32's polynomial, bit-reflected (the least significant bit is x^31's)
_POLY = 0xEDB88320
#: x^0, reflected
_ONE = 0x80000000
#: a gzip member's header: no name, no mtime, deflate, unknown OS (RFC 1952)
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
#: an empty final deflate block (fixed Huffman codes, BFINAL set): ends the stream
_DEFLATE_END = b"\x03\x00"
#: the most a stored deflate block holds (RFC 1951 3.2.4)
_STORED_MAX = 0xFFFF
#: how much of the deflate stream one inflate call is given (the rest is copied
#: as zlib's unconsumed tail when the call's output is full)
_WINDOW = 128 * 1024


@dataclass(frozen=True, slots=True)
class Packed:
    """Text kept as a raw deflate stream ended by a full flush (no final block),
    with the CRC-32 and length of the text and the length's :func:`shift_of`."""

    data: bytes
    crc: int
    size: int
    shift: int


Piece = bytes | Packed


def _deflated(text: bytes, level: int) -> bytes:
    packer = zlib.compressobj(level, zlib.DEFLATED, -15)
    return packer.compress(text) + packer.flush(zlib.Z_FULL_FLUSH)


def pack(text: bytes, level: int = LEVEL) -> Packed:
    """``text`` deflated as a piece of any body."""
    return Packed(_deflated(text, level), zlib.crc32(text), len(text), shift_of(len(text)))


def unpack(piece: Piece) -> bytes:
    """The text of a piece."""
    if isinstance(piece, bytes):
        return piece
    unpacker = zlib.decompressobj(-15)
    return unpacker.decompress(piece.data) + unpacker.flush()


def size_of(piece: Piece) -> int:
    """The length of a piece's text."""
    return len(piece) if isinstance(piece, bytes) else piece.size


def _times(a: int, b: int) -> int:
    """``a * b`` modulo CRC-32's polynomial, both reflected (zlib's ``multmodp``)."""
    product = 0
    bit = _ONE
    while a:
        if a & bit:
            product ^= b
            a ^= bit
        bit >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
    return product


#: x^(2^k) modulo the polynomial, for k in 0..31 (zlib's ``x2n_table``)
_X2N = [_ONE >> 1]
for _ in range(31):
    _X2N.append(_times(_X2N[-1], _X2N[-1]))


def shift_of(size: int) -> int:
    """x^(8 * size) modulo CRC-32's polynomial: what :func:`crc_combine` multiplies the
    CRC of the text before by, to append ``size`` bytes' CRC to it."""
    power = _ONE
    k = 3  # 8 * size == size * 2^3
    while size:
        if size & 1:
            power = _times(_X2N[k & 31], power)
        size >>= 1
        k += 1
    return power


def crc_combine(crc: int, more: int, size: int, shift: int | None = None) -> int:
    """The CRC-32 of ``a + b`` from ``crc`` (of ``a``), ``more`` (of ``b``) and
    ``size`` (of ``b``), as zlib's ``crc32_combine``, which Python's zlib lacks;
    ``shift`` is ``shift_of(size)`` when known.

    The CRC register is linear over GF(2): appending ``size`` bytes multiplies the
    CRC before them by x^(8 * size) modulo the polynomial, then adds theirs. In pure
    Python, a few microseconds with ``shift``: a scrape made of pieces never hands
    the GIL to zlib and waits to get it back (under load, 5 ms each time)."""
    return _times(shift_of(size) if shift is None else shift, crc) ^ more


def _stored(text: bytes) -> Iterator[bytes]:
    """``text`` as stored (uncompressed) deflate blocks, not final: a plain piece
    inside a deflate stream of pieces (each ends byte-aligned)."""
    for at in range(0, len(text), _STORED_MAX):
        chunk = text[at : at + _STORED_MAX]
        length = len(chunk)
        yield b"\x00" + length.to_bytes(2, "little") + (length ^ 0xFFFF).to_bytes(2, "little")
        yield chunk


def _stream(pieces: Iterable[Piece]) -> bytes:
    """The pieces as one raw deflate stream, not ended: packed ones as they are, plain
    ones stored. Joining costs a copy of the deflated body (~0.8 MB at 10k assets)."""
    out: list[bytes] = []
    for piece in pieces:
        if isinstance(piece, Packed):
            out.append(piece.data)
        elif piece:
            out.extend(_stored(piece))
    return b"".join(out)


def batches(pieces: Iterable[Piece], size: int) -> Iterator[bytes]:
    """The pieces' text in batches of ``size`` bytes (but the last), each inflated
    only as it is made: one batch is held at a time, never the body.

    The pieces are inflated as one stream, so a batch is about one call into zlib,
    whatever the number of pieces: each call lets go of the GIL, and under load
    getting it back costs a switch interval (5 ms)."""
    stream = memoryview(_stream(pieces))
    unpacker = zlib.decompressobj(-15)
    batch: list[bytes] = []
    held = at = 0
    full = False  # the last call's output was cut at its limit: more may be pending
    while at < len(stream) or full:
        window = stream[at : at + _WINDOW]
        want = size - held
        text = unpacker.decompress(window, want)
        at += len(window) - len(unpacker.unconsumed_tail)
        full = len(text) == want
        if text:
            batch.append(text)
            held += len(text)
        if held >= size:
            yield batch[0] if len(batch) == 1 else b"".join(batch)
            batch, held = [], 0
    rest = unpacker.flush()
    if rest:
        batch.append(rest)
    if batch:
        yield b"".join(batch)


#: pieces whose CRCs are combined into one, kept from a body to the next: a body of
#: N pieces then costs N/_RUN multiplications (~2,000 pieces at 100 accounts: each
#: multiplication ~5 µs in pure Python), and a run only once one of its pieces changed
_RUN = 32


def _run_of(pieces: list[Packed]) -> tuple[list[Packed], int, int, int]:
    """The run's pieces, and the CRC, size and shift of their text joined."""
    crc = size = 0
    for piece in pieces:
        crc = crc_combine(crc, piece.crc, piece.size, piece.shift)
        size += piece.size
    return pieces, crc, size, shift_of(size)


class Gzipper:
    """Gzips a body from its pieces: packed ones as they are, plain ones deflated once
    while they stay in the bodies asked for (the renders hand back the same ``bytes``
    objects while nothing changed; they are kept only while the last body had them,
    so this holds at most one body's plain pieces, deflated). The CRC of the body is
    combined from runs of :data:`_RUN` pieces, each kept while its pieces are the
    same objects as in the last body (which keeps that body's pieces alive until the
    next: ~0.8 MB at 10k assets, most of it held by the renders anyway)."""

    def __init__(self, level: int = LEVEL) -> None:
        self._level = level
        #: by id of the part: (the part, kept alive so the id stays its, its piece)
        self._packed: dict[int, tuple[bytes, Packed]] = {}
        #: the last body's runs, in order: (their pieces, CRC, size, shift)
        self._runs: list[tuple[list[Packed], int, int, int]] = []

    def __call__(self, pieces: Iterable[Piece]) -> bytes:
        known = self._packed
        packed: dict[int, tuple[bytes, Packed]] = {}
        items: list[Packed] = []
        for piece in pieces:
            if isinstance(piece, bytes):
                if not piece:
                    continue
                hit = known.get(id(piece))
                if hit is None or hit[0] is not piece:
                    hit = (piece, pack(piece, self._level))
                packed[id(piece)] = hit
                items.append(hit[1])
            elif piece.size:
                items.append(piece)
        last = self._runs
        runs: list[tuple[list[Packed], int, int, int]] = []
        crc = size = 0
        for n, at in enumerate(range(0, len(items), _RUN)):
            run = items[at : at + _RUN]
            kept = last[n] if n < len(last) else None
            if (
                kept is None
                or len(kept[0]) != len(run)
                or any(a is not b for a, b in zip(kept[0], run, strict=True))
            ):
                kept = _run_of(run)
            runs.append(kept)
            crc = crc_combine(crc, kept[1], kept[2], kept[3])
            size += kept[2]
        # a racing scrape's are lost, not wrong: each body is made of its own
        self._packed, self._runs = packed, runs
        out = [_GZIP_HEADER, *(piece.data for piece in items), _DEFLATE_END]
        out.append((crc & _MASK).to_bytes(4, "little"))
        out.append((size & _MASK).to_bytes(4, "little"))
        return b"".join(out)
