"""Bodies made of packed and plain pieces: what any gzip reader inflates them to."""

import gzip
import random
import zlib

import pytest

from monitor.packed import (
    Gzipper,
    Packed,
    Piece,
    batches,
    crc_combine,
    pack,
    shift_of,
    size_of,
    unpack,
)


def _text(rng: random.Random, size: int) -> bytes:
    words = [b"ivh_asset_info{", b'account="a"', b'asset="', b"} 1.0\n", b"\xe6\x98\x9f", b"\\n"]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words) + str(rng.randrange(10**6)).encode()
    return bytes(out[:size])


@pytest.mark.parametrize("size", [0, 1, 4095, 65535, 65536, 65537, 3 * 65536 + 17, 400_000])
def test_the_combined_crc_is_the_crc_of_the_whole(size: int) -> None:
    rng = random.Random(size)
    head, tail = _text(rng, 1000), _text(rng, size)
    assert crc_combine(zlib.crc32(head), zlib.crc32(tail), size) == zlib.crc32(head + tail)
    assert crc_combine(0, zlib.crc32(tail), size) == zlib.crc32(tail)
    shift = shift_of(size)
    assert crc_combine(zlib.crc32(head), zlib.crc32(tail), size, shift) == zlib.crc32(head + tail)


def _inflate_one_member(body: bytes) -> bytes:
    """As a reader that stops after the first gzip member (Go's with multistream off,
    zlib's own): the body must be one member, its CRC and size right."""
    unpacker = zlib.decompressobj(16 + zlib.MAX_WBITS)
    text = unpacker.decompress(body) + unpacker.flush()
    assert unpacker.eof
    assert unpacker.unused_data == b""
    return text


def test_a_body_of_packed_and_plain_pieces_in_any_order_inflates_to_their_text() -> None:
    """Pieces of every size, packed and plain, empty ones among them, in changing
    order and company across bodies (plain ones reused, as the renders reuse them),
    gzip to exactly their text, one gzip member with the right CRC and length."""
    rng = random.Random(14)
    pool: list[Piece] = []
    for size in (0, 1, 17, 5000, 70_000, 200_000):
        text = _text(rng, size)
        pool.extend([text, pack(text), pack(text, level=1)])
    gzipper = Gzipper()
    for _ in range(30):
        pieces = rng.sample(pool, rng.randrange(1, len(pool)))
        expected = b"".join(unpack(p) for p in pieces)
        body = gzipper(pieces)
        assert gzip.decompress(body) == expected  # checks CRC-32 and ISIZE
        assert _inflate_one_member(body) == expected
        assert sum(size_of(p) for p in pieces) == len(expected)
    assert gzip.decompress(gzipper([])) == b""


def test_a_body_after_a_landing_is_right_where_its_pieces_changed_and_where_they_stayed() -> None:
    """Bodies of hundreds of pieces, from one to the next a few replaced by others of
    the same size or another, some dropped, some added (the CRCs of unchanged runs of
    pieces are kept from a body to the next): each gzips to exactly its text."""
    rng = random.Random(2026)
    pieces: list[Piece] = [pack(_text(rng, rng.randrange(0, 3000))) for _ in range(700)]
    gzipper = Gzipper()
    for step in range(12):
        body = gzipper(pieces)
        expected = b"".join(unpack(p) for p in pieces)
        assert _inflate_one_member(body) == expected, f"step {step}"
        for _ in range(rng.randrange(1, 6)):  # a landing: new objects, same text or not
            i = rng.randrange(len(pieces))
            text = unpack(pieces[i]) if rng.random() < 0.5 else _text(rng, rng.randrange(1, 900))
            pieces[i] = pack(text) if rng.random() < 0.7 else text
        if step % 4 == 1:
            del pieces[rng.randrange(len(pieces))]
        if step % 4 == 2:
            pieces.insert(rng.randrange(len(pieces)), pack(_text(rng, 123)))
        if step == 9:
            pieces = pieces[:31]  # fewer than one run


def test_a_packed_piece_is_its_text_deflated() -> None:
    text = _text(random.Random(1), 300_000)
    piece = pack(text)
    assert isinstance(piece, Packed)
    assert unpack(piece) == text
    assert piece.size == len(text)
    assert piece.crc == zlib.crc32(text)
    assert len(piece.data) < len(text) / 3
    assert unpack(pack(b"")) == b""


def test_plain_batches_are_the_text_in_order_and_at_least_the_batch_size() -> None:
    rng = random.Random(2)
    texts = [_text(rng, rng.randrange(0, 50_000)) for _ in range(60)]
    pieces: list[Piece] = [pack(t) if i % 2 else t for i, t in enumerate(texts)]
    out = list(batches(pieces, 64 * 1024))
    assert b"".join(out) == b"".join(texts)
    assert all(len(batch) == 64 * 1024 for batch in out[:-1])  # one batch held at a time
    assert 0 < len(out[-1]) <= 64 * 1024


@pytest.mark.parametrize("size", [1, 1000, 65535, 65536, 200_000, 10**6])
def test_batches_of_any_size_over_plain_pieces_past_a_stored_block(size: int) -> None:
    """Plain pieces past a stored deflate block's 65,535 bytes, empty ones, packed ones
    of repetitive text (which inflate far past the input they came from)."""
    rng = random.Random(size)
    texts = [b"", _text(rng, 200_000), b"x" * 300_000, b"", _text(rng, 65535), b"y"]
    pieces: list[Piece] = [texts[0], texts[1], pack(texts[2]), pack(texts[3]), texts[4], texts[5]]
    out = list(batches(pieces, size))
    assert b"".join(out) == b"".join(texts)
    assert all(len(batch) == size for batch in out[:-1])
    assert list(batches([b"", pack(b"")], size)) == []
