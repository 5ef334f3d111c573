"""Hostile gateway answers for the client (issue 6): over a real ``httpx.MockTransport``.

Whatever the body, status or headers, a call returns a ``Listing`` or raises an
``UpstreamError``; every request is counted by the observer; absurd ``Total``s
stop at ``max_pages``; oversized bodies are refused without reading them whole.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st
from pydantic import SecretStr
from structlog.testing import capture_logs

from monitor.client import IVHClient, Listing
from monitor.config import Account, ClientConfig
from monitor.errors import IncompleteListingError, ParseError, UpstreamError
from monitor.vendor import (
    Action,
    AnchorRecord,
    ImageAsset,
    ServiceAsset,
    SmallSampleImage,
    TimbreAsset,
    _Vendor,
)
from tests.strategies import EXAMPLES, FUZZ, hostile, json_values, mutated_record

ACCOUNT = Account(
    name="fuzz",
    appkey="ak-fuzz",
    access_token=SecretStr("at-fuzz-never-shown"),
    base_url="http://gw.test",
    zone=ZoneInfo("Asia/Shanghai"),
    labels={},
)
OUTCOMES = {
    "success",
    "auth_error",
    "rate_limited",
    "api_error",
    "http_error",
    "transport_error",
    "deadline",
    "parse_error",
}
_MIB = 1024 * 1024

#: method name -> (list field, model, arguments)
CALLS: dict[str, tuple[str, type[_Vendor], tuple[str, ...]]] = {
    "service_assets": ("ServiceAssetInfos", ServiceAsset, ()),
    "timbres": ("TimbreAssets", TimbreAsset, ()),
    "anchors": ("Virtualmans", AnchorRecord, ("real_man_2d",)),
    "images": ("Virtualmans", ImageAsset, ("real_man_3d",)),
    "small_sample_images": ("Virtualmans", SmallSampleImage, ()),
    "actions": ("Actions", Action, ("vk-1",)),
}

Handler = Callable[[httpx.Request], httpx.Response]


class Outcome:
    def __init__(self) -> None:
        self.requests = 0
        self.observed: list[tuple[str, str, float]] = []
        self.result: Listing[Any] | None = None
        self.error: BaseException | None = None


class Raw(httpx.AsyncByteStream):
    """A body as it comes off the network: ``httpx.Response(content=bytes)`` would
    read and decode it on the spot, before the client under test could."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._data


class Streaming(httpx.AsyncBaseTransport):
    """``httpx.MockTransport`` without its ``aread()``: the body reaches the client
    as a network body does, raw, for the client to decode (and bound)."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self._handler = handler

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        return self._handler(request)


def run_call(method: str, handler: Handler, config: ClientConfig) -> Outcome:
    """Run one client call over ``handler``; record what came back and what was sent."""
    out = Outcome()

    def counting(request: httpx.Request) -> httpx.Response:
        out.requests += 1
        return handler(request)

    async def go() -> None:
        async with IVHClient(
            ACCOUNT,
            config,
            transport=Streaming(counting),
            observer=lambda *event: out.observed.append(event),
        ) as client:
            call: Callable[..., Awaitable[Listing[Any]]] = getattr(client, method)
            try:
                out.result = await call(*CALLS[method][2])
            except Exception as exc:  # noqa: BLE001 - the property: which exceptions escape
                out.error = exc

    # hypothesis drives sync tests; each example gets its own event loop
    with capture_logs():
        asyncio.run(go())
    return out


def check(out: Outcome, config: ClientConfig) -> None:
    event(type(out.error).__name__ if out.error is not None else "Listing")
    if out.error is not None:
        assert isinstance(out.error, UpstreamError), repr(out.error)
        assert ACCOUNT.access_token.get_secret_value() not in str(out.error)
    else:
        assert isinstance(out.result, Listing)
        assert out.result.pages <= config.max_pages
    # every request is counted, with an outcome from the bounded set
    assert len(out.observed) == out.requests
    assert {o for _, o, _ in out.observed} <= OUTCOMES


# -- strategies -----------------------------------------------------------------------------


def pick(*choices: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """One of ``choices``, evenly: unlike ``one_of``, nested unions are not flattened,
    so repeating a choice weights it."""
    return st.sampled_from(choices).flatmap(lambda strategy: strategy)


#: True nine times in ten (st.integers would favour its bounds)
mostly = st.sampled_from([True] * 9 + [False])

codes = pick(
    st.just(0),
    st.just(0),
    st.just("0"),
    st.sampled_from([100005, 100012, 100013, -101000, 801002]),
    st.one_of(
        st.integers(),
        st.floats(allow_nan=True),
        st.text(max_size=8),
        st.booleans(),
        st.none(),
        json_values,
    ),
)
totals = st.one_of(
    st.integers(-5, 1000),
    st.just(10**18),
    st.just(10**400),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["10", " 7 ", "1e3", "-1", "9" * 30]),
    st.none(),
    st.booleans(),
    json_values,
)


@st.composite
def envelopes(draw: st.DrawFn, method: str) -> Any:
    list_field, model, _ = CALLS[method]
    header = draw(
        pick(
            st.fixed_dictionaries({"Code": st.just(0)}),
            st.fixed_dictionaries(
                {"Code": codes},
                optional={
                    "Message": st.one_of(
                        st.text(max_size=40), st.just("AuthFailure.x"), json_values
                    ),
                    "RequestID": st.one_of(st.text(max_size=200), json_values),
                },
            ),
            json_values,
        )
    )
    items = draw(
        pick(
            st.lists(mutated_record(model), max_size=6),
            st.lists(st.sampled_from(EXAMPLES[model]), min_size=1, max_size=6),
            hostile,
        )
    )
    payload = draw(
        pick(
            st.fixed_dictionaries(
                {list_field: st.just(items)}, optional={"Total": totals, "Noise": json_values}
            ),
            st.fixed_dictionaries({list_field: st.just(items), "Total": totals}),
            json_values,
        )
    )
    envelope: dict[str, Any] = {}
    if draw(mostly):  # sometimes missing
        envelope["Header"] = header
    if draw(mostly):
        envelope["Payload"] = payload
    return envelope


def _ascii(max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=max_size)


header_values = st.fixed_dictionaries(
    {},
    optional={
        "Content-Type": st.sampled_from(
            ["application/json", "text/html", "application/octet-stream", "", "json; charset=gbk"]
        ),
        "Date": st.one_of(
            _ascii(),
            st.sampled_from(
                [
                    "Mon, 01 Jan 10000 00:00:00 GMT",
                    "Mon, 01 Jan 0000 00:00:00 GMT",
                    "Fri, 31 Dec 9999 23:59:59 -2359",
                    "Thu, 01 Jan 1970 00:00:00 +2400",
                ]
            ),
        ),
        "Retry-After": st.one_of(_ascii(12), st.sampled_from(["nan", "inf", "-1", "1e999"])),
    },
)


@st.composite
def answers(draw: st.DrawFn, method: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a hostile answer."""
    kind = draw(st.sampled_from(["envelope"] * 5 + ["json", "bytes", "deep"]))
    if kind == "envelope":
        body = json.dumps(draw(envelopes(method)), allow_nan=True).encode()
    elif kind == "json":
        body = json.dumps(draw(json_values), allow_nan=True).encode()
    elif kind == "bytes":
        body = draw(st.binary(max_size=300))
    else:  # nesting deeper than the JSON decoder's recursion limit
        depth = draw(st.sampled_from([1000, 5000, 100_000]) | st.integers(900, 100_000))
        body = b'{"Header": {"Code": 0}, "Payload": ' + b"[" * depth
    status = draw(
        pick(
            st.just(200),
            st.just(200),
            st.sampled_from([201, 204, 304, 400, 401, 404, 429, 500, 503]),
            st.integers(200, 599),
        )
    )
    headers = draw(header_values)
    if not draw(mostly):
        encoding = draw(st.sampled_from(["gzip", "deflate", "identity", "x-nonsense"]))
        headers["Content-Encoding"] = encoding
        if encoding == "gzip" and draw(st.booleans()):
            body = gzip.compress(body)  # sometimes honest about it
    return status, headers, body


configs = st.builds(
    ClientConfig,
    retries=st.just(0),
    rate_limit_per_second=st.just(10000.0),
    page_size=st.integers(1, 6),
    max_pages=st.integers(1, 8),
    max_concurrency=st.integers(1, 4),
)


# -- properties -----------------------------------------------------------------------------


FAST = ClientConfig(retries=0, rate_limit_per_second=10000, page_size=2, max_pages=3)


@FUZZ
@given(
    case=st.sampled_from(sorted(CALLS)).flatmap(lambda m: st.tuples(st.just(m), answers(m))),
    config=configs,
)
@example(case=("timbres", (200, {}, b"[" * 100_000)), config=FAST)  # RecursionError escaped
@example(  # httpx.DecodingError escaped
    case=("timbres", (200, {"Content-Encoding": "gzip"}, b'{"Header": {}}')), config=FAST
)
@example(  # OverflowError from Total / page_size
    case=(
        "timbres",
        (
            200,
            {},
            b'{"Header": {"Code": 0}, "Payload": {"Total": 1%s, "TimbreAssets": [1, 2]}}'
            % (b"0" * 400),
        ),
    ),
    config=FAST,
)
def test_any_answer_gives_a_listing_or_an_upstream_error(
    case: tuple[str, tuple[int, dict[str, str], bytes]], config: ClientConfig
) -> None:
    method, (status, headers, body) = case

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers, stream=Raw(body))

    out = run_call(method, handler, config)
    check(out, config)
    # one fixed answer: at most two walks (an inconsistent listing is walked once more,
    # §3), and the only extra request is the one 404 path fallback (§4)
    assert out.requests <= 2 * config.max_pages + (1 if status == 404 else 0)


@FUZZ
@given(data=st.data(), method=st.sampled_from(sorted(CALLS)), config=configs)
def test_answers_that_change_from_request_to_request(
    data: st.DataObject, method: str, config: ClientConfig
) -> None:
    script = data.draw(st.lists(answers(method), min_size=1, max_size=10))

    def handler(request: httpx.Request) -> httpx.Response:
        page = json.loads(request.content)["Payload"].get("PageIndex", 1)
        status, headers, body = script[(page - 1) % len(script)]
        return httpx.Response(status, headers=headers, stream=Raw(body))

    out = run_call(method, handler, config)
    check(out, config)
    # at worst two walks whose every page tries both spellings
    assert out.requests <= 4 * config.max_pages


@FUZZ
@given(
    method=st.sampled_from(sorted(set(CALLS) - {"actions"})),
    total=st.one_of(
        st.just(10**18), st.just(10**400), st.integers(10**6, 10**30), st.just("9" * 40)
    ),
    items=st.lists(st.one_of(st.none(), json_values), max_size=6),
    config=configs,
)
@example(
    method="timbres",
    total=10**400,  # overflowed a float division once
    items=[{"TimbreKey": "k"}] * 6,
    config=ClientConfig(retries=0, rate_limit_per_second=10000, page_size=2, max_pages=3),
)
def test_an_absurd_total_fails_after_one_page_and_keeps_every_item(
    method: str, total: object, items: list[Any], config: ClientConfig
) -> None:
    list_field = CALLS[method][0]
    body = json.dumps(
        {"Header": {"Code": 0}, "Payload": {"Total": total, list_field: items}}, allow_nan=True
    ).encode()

    out = run_call(method, lambda _: httpx.Response(200, stream=Raw(body)), config)
    check(out, config)
    # a Total beyond max_pages is a failure at once: one request, whatever it claims
    assert out.requests == 1
    error = out.error
    assert isinstance(error, IncompleteListingError), repr(error)
    assert error.reason == "too_large"
    # what did arrive is kept: every item of the page is a record or a counted problem
    partial = error.partial
    assert isinstance(partial, Listing)
    assert len(partial.records) + len(partial.problems) == len(items) == error.rows


# -- oversized bodies -------------------------------------------------------------------------


async def _endless(chunk: bytes, sent: list[int]) -> AsyncIterator[bytes]:
    while True:
        sent[0] += len(chunk)
        yield chunk


@pytest.mark.parametrize("chunk_kib", [64, 1024])
def test_an_endless_body_is_refused_after_32_mib(chunk_kib: int) -> None:
    sent = [0]
    chunk = b" " * (chunk_kib * 1024)
    config = ClientConfig(retries=0, rate_limit_per_second=10000)
    out = run_call(
        "timbres",
        lambda _: httpx.Response(200, content=_endless(chunk, sent)),
        config,
    )
    assert isinstance(out.error, ParseError)
    assert "MiB" in out.error.message
    # streamed: reading stopped just past the bound, not at the end of the body
    assert 32 * _MIB < sent[0] <= 32 * _MIB + len(chunk)
    assert [o for _, o, _ in out.observed] == ["parse_error"]


def test_a_small_gzip_body_that_inflates_beyond_32_mib_is_refused() -> None:
    bomb = gzip.compress(
        b'{"Header": {"Code": 0}, "Payload": {"Total": 1, "X": "' + b"0" * (40 * _MIB)
    )
    assert len(bomb) < _MIB
    config = ClientConfig(retries=0, rate_limit_per_second=10000)
    out = run_call(
        "timbres",
        lambda _: httpx.Response(200, headers={"Content-Encoding": "gzip"}, stream=Raw(bomb)),
        config,
    )
    assert isinstance(out.error, ParseError)
    assert "MiB" in out.error.message


def test_a_gzip_bomb_is_never_inflated_past_the_bound() -> None:
    """Decoding stops one byte past what is still allowed, however much one
    network chunk would inflate to (httpx's own decoders inflate it whole)."""
    from monitor.client import _Inflater

    bomb = gzip.compress(b"0" * (64 * _MIB))
    inflater = _Inflater(["gzip"])
    assert len(inflater.feed(bomb, 1000)) == 1001


@pytest.mark.parametrize(
    ("coding", "pack"),
    [
        ("gzip", gzip.compress),
        ("gzip", lambda b: gzip.compress(b[:9]) + gzip.compress(b[9:])),  # two members
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),  # RFC 9110: zlib-wrapped
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send
        ("identity", lambda b: b),
        ("x-nonsense", lambda b: b),  # unknown codings are ignored, as httpx does
    ],
)
def test_content_codings_decode_to_the_envelope(
    coding: str, pack: Callable[[bytes], bytes]
) -> None:
    body = json.dumps({"Header": {"Code": 0}, "Payload": {"Total": 0}}).encode()
    out = run_call(
        "timbres",
        lambda _: httpx.Response(200, headers={"Content-Encoding": coding}, stream=Raw(pack(body))),
        ClientConfig(retries=0, rate_limit_per_second=10000),
    )
    assert out.error is None


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", b"not gzip at all"),
        ("gzip, deflate", zlib.compress(gzip.compress(b"{}"))),  # stacked: not supported
        ("gzip", gzip.compress(b'{"Header": {"Code": 0}}') + b"trailing junk"),
        ("gzip", gzip.compress(b'{"Header": {"Code": 0}}')[:-4]),  # cut before its end
        ("deflate", zlib.compress(b'{"Header": {"Code": 0}}') + b"\x1f\x8b"),
    ],
)
def test_a_body_that_contradicts_its_coding_is_a_parse_error(coding: str, body: bytes) -> None:
    out = run_call(
        "timbres",
        lambda _: httpx.Response(200, headers={"Content-Encoding": coding}, stream=Raw(body)),
        ClientConfig(retries=0, rate_limit_per_second=10000),
    )
    assert isinstance(out.error, ParseError)
    assert "Content-Encoding" in out.error.message
