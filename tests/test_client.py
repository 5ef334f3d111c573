"""The client against the simulator over real HTTP: endpoints, pages, faults."""

import asyncio
import gc
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import structlog
from structlog.testing import LogCapture, capture_logs

from monitor.client import IVHClient, Listing
from monitor.config import ClientConfig
from monitor.errors import (
    APIError,
    AuthError,
    DeadlineError,
    HTTPStatusError,
    IncompleteListingError,
    ParseError,
)
from monitor.simulator import Fault, RunningSimulator
from tests.conftest import FAST, TEST_TOKEN, account_for, vendor_example

MakeClient = Callable[..., IVHClient]


def _timbres(n: int) -> list[dict[str, Any]]:
    return [
        {"TimbreKey": f"v{i:04d}", "TimbreName": f"voice {i}", "ExpireDate": "+30d"}
        for i in range(n)
    ]


@pytest.mark.parametrize(("count", "pages"), [(0, 1), (100, 1), (101, 2), (250, 3)])
async def test_pagination_to_the_end_at_page_size_100(
    sim: RunningSimulator, make_client: MakeClient, count: int, pages: int
) -> None:
    sim.dataset.account("t1").replace("timbres", _timbres(count))
    listing = await make_client().timbres()
    assert sorted(r.key for r in listing.records) == [f"v{i:04d}" for i in range(count)]
    assert (listing.pages, listing.total, listing.problems) == (pages, count, [])
    sent = [e for e in sim.requests.entries() if e.endpoint == "describetimbre"]
    assert sorted(e.page_index or 0 for e in sent) == list(range(1, pages + 1))
    assert {e.page_size for e in sent} == {100}


async def test_a_total_beyond_max_pages_fails_after_one_page(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    sim.dataset.account("t1").replace("timbres", _timbres(250))
    with pytest.raises(IncompleteListingError) as caught:
        await make_client(page_size=10, max_pages=5, max_concurrency=2).timbres()
    error = caught.value
    assert (error.reason, error.rows, error.total) == ("too_large", 10, 250)
    assert "client.max_pages" in str(error)
    # nothing beyond the first page was fetched: memory stays bounded whatever Total says
    assert [e.page_index for e in sim.requests.entries()] == [1]
    partial = error.partial
    assert isinstance(partial, Listing)
    assert len(partial.records) == 10


async def test_every_endpoint_with_the_vendor_examples(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    account = sim.dataset.account("t1")
    account.replace("services", vendor_example("getserviceasset")["Payload"]["ServiceAssetInfos"])
    account.replace("timbres", vendor_example("describetimbre")["Payload"]["TimbreAssets"])
    account.replace("anchors", vendor_example("getanchor")["Payload"]["Virtualmans"])
    account.replace("images", vendor_example("getimagebyanchor")["Payload"]["Virtualmans"])
    account.replace(
        "small_sample_images", vendor_example("describesmallsampleimage")["Payload"]["Virtualmans"]
    )
    account.replace(
        "actions",
        {"8af9c7a960ab44c9bfe8a48deae6a250": vendor_example("getaction")["Payload"]["Actions"]},
    )
    client = make_client()
    services = await client.service_assets()
    assert [s.service_type for s in services.records] == ["BroadcastHour", "ImageAsset"]
    assert services.records[0].hours is not None
    assert services.records[0].hours.remain_ms == 881318391
    assert [t.key for t in (await client.timbres()).records] == ["female_1", "male_11"]
    assert [a.code for a in (await client.anchors("real_man_3d")).records] == ["xiaowei"]
    assert (await client.anchors("cartoon_3d")).records == []
    images = await client.images("small_sample_2d")
    assert [i.key for i in images.records] == [
        "2cc66ae2950e4968880676a055013234",
        "fe880d9385304e688f9a8e469370fc90",
    ]
    small = await client.small_sample_images()
    assert small.records[0].expire_time_ms == 1699944584000
    actions = await client.actions("8af9c7a960ab44c9bfe8a48deae6a250")
    assert len(actions.records) == 18
    assert (await client.actions("unknown-key")).records == []


async def test_transient_5xx_is_retried(sim: RunningSimulator, make_client: MakeClient) -> None:
    sim.dataset.account("t1").replace("timbres", _timbres(3))
    sim.faults.add(Fault(kind="http_error", status=503, endpoint="describetimbre", times=2))
    listing = await make_client(retries=3).timbres()
    assert len(listing.records) == 3
    assert sim.requests.count(endpoint="describetimbre") == 3


@pytest.mark.parametrize(
    "fault",
    [
        Fault(kind="api_error", code=100000, message="InternalError:内部错误", times=1),
        Fault(
            kind="api_error",
            code=801002,
            message="FailedOperation.RemoteCall:远程调用失败",
            times=1,
        ),
        Fault(kind="rate_limit", times=2),
        Fault(kind="rate_limit", status=429, times=1),
    ],
    ids=["internal-error", "remote-call", "rate-limit-code", "http-429"],
)
async def test_retryable_failures_recover(
    sim: RunningSimulator, make_client: MakeClient, fault: Fault
) -> None:
    sim.dataset.account("t1").replace("timbres", _timbres(2))
    sim.faults.add(fault)
    assert len((await make_client().timbres()).records) == 2


async def test_a_failed_page_cancels_the_rest_of_its_window(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    """Page 2 fails for good while pages 3 and 4 are slow and in flight: the walk
    fails at once with page 2's error and leaves nothing running or retrying."""
    sim.dataset.account("t1").replace("timbres", _timbres(50))
    sim.faults.add(Fault(kind="api_error", endpoint="describetimbre", page=2, code=100009))
    for page in (3, 4):
        sim.faults.add(Fault(kind="latency", endpoint="describetimbre", page=page, seconds=5))
    client = make_client(page_size=10, max_concurrency=4)
    with pytest.raises(APIError) as err:
        await asyncio.wait_for(client.timbres(), 3)
    assert err.value.code == 100009
    assert asyncio.all_tasks() - {asyncio.current_task()} <= _server_tasks()


def _server_tasks() -> set[asyncio.Task[Any]]:
    """The in-process simulator's own request handlers."""
    return {t for t in asyncio.all_tasks() if "aiohttp" in repr(t)}


async def test_permanent_api_error_is_not_retried_and_keeps_request_id(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    sim.faults.add(
        Fault(kind="api_error", code=100009, message="InternalError.DataNotExist:记录不存在")
    )
    with capture_logs() as logs, pytest.raises(APIError) as err:
        await make_client().timbres()
    assert err.value.code == 100009
    assert err.value.message == "InternalError.DataNotExist:记录不存在"
    assert err.value.request_id
    assert err.value.request_id in str(err.value)
    assert sim.requests.count(endpoint="describetimbre") == 1
    [failed] = [e for e in logs if e["event"] == "api.call_failed"]
    assert failed["account"] == "t1"
    assert failed["endpoint"] == "describetimbre"
    assert failed["code"] == 100009
    assert failed["request_id"] == err.value.request_id
    assert failed["will_retry"] is False


async def test_unknown_code_is_permanent(sim: RunningSimulator, make_client: MakeClient) -> None:
    sim.faults.add(Fault(kind="api_error", code=424242, message="Brand.New:新错误"))
    with pytest.raises(APIError):
        await make_client().service_assets()
    assert sim.requests.count(endpoint="getserviceasset") == 1


async def test_retries_give_up_with_the_last_error(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    sim.faults.add(Fault(kind="http_error", status=502))
    with pytest.raises(HTTPStatusError) as err:
        await make_client(retries=2).service_assets()
    assert err.value.status == 502
    assert "HTTP 502" in str(err.value)
    assert sim.requests.count(endpoint="getserviceasset") == 3


async def test_malformed_record_is_skipped_not_its_page(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    sim.dataset.account("t1").replace("timbres", _timbres(5))
    sim.faults.add(Fault(kind="malformed_record", corruption="not_object", record=2, times=1))
    listing = await make_client().timbres()
    assert len(listing.records) == 4
    assert len(listing.problems) == 1
    assert listing.problems[0].index == 2


async def test_bad_date_record_is_reported_with_its_key(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    sim.dataset.account("t1").replace("timbres", _timbres(3))
    sim.faults.add(Fault(kind="malformed_record", corruption="bad_date", record=1, times=1))
    listing = await make_client().timbres()
    assert [p.key for p in listing.problems] == ["v0001"]
    assert "ExpireDate" in listing.problems[0].reason
    assert len(listing.records) == 2


async def test_hung_connection_times_out(sim: RunningSimulator, make_client: MakeClient) -> None:
    sim.faults.add(Fault(kind="hang"))
    with pytest.raises(DeadlineError, match=r"no complete answer within 0\.3 s"):
        await make_client(timeout_seconds=0.3, retries=0).service_assets()


async def test_latency_within_timeout_succeeds(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    sim.dataset.account("t1").replace("timbres", _timbres(1))
    sim.faults.add(Fault(kind="latency", seconds=0.05))
    assert len((await make_client(timeout_seconds=5).timbres()).records) == 1


async def test_garbage_body_is_a_parse_error(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    sim.faults.add(Fault(kind="garbage_body"))
    with pytest.raises(ParseError, match="envelope"):
        await make_client().service_assets()


async def test_json_with_the_wrong_content_type_is_still_read(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    sim.dataset.account("t1").replace("timbres", _timbres(2))
    sim.faults.add(Fault(kind="wrong_content_type"))
    assert len((await make_client().timbres()).records) == 2


async def test_wrong_token_is_an_auth_error_never_retried(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    with pytest.raises(AuthError) as err:
        await make_client(token="not-the-token").service_assets()
    assert err.value.clock_skew_seconds is None
    assert sim.requests.count(endpoint="getserviceasset") == 1


async def test_clock_skew_is_detected_and_reported_as_such(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    sim.set_clock_offset(-900)  # the gateway is 15 minutes behind us
    with pytest.raises(AuthError) as err:
        await make_client().service_assets()
    assert err.value.clock_skew_seconds is not None
    assert 850 < err.value.clock_skew_seconds < 950
    assert "NTP" in str(err.value)


async def test_token_never_in_errors_or_logs(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    sim.faults.add(Fault(kind="http_error", status=500, times=1))
    sim.faults.add(Fault(kind="api_error", code=100009, message="X:y", endpoint="describetimbre"))
    client = make_client()
    with capture_logs() as logs:
        await client.service_assets()
        with pytest.raises(APIError) as err:
            await client.timbres()
    assert TEST_TOKEN not in str(err.value)
    assert TEST_TOKEN not in repr(err.value)
    assert TEST_TOKEN not in repr(client)
    assert TEST_TOKEN not in repr(client.account)
    assert TEST_TOKEN not in str(logs)


async def test_falls_back_to_the_other_path_spelling_once_and_remembers(
    sim: RunningSimulator,
) -> None:
    """A gateway that only knows the two-"s" spelling (docs/ivh-api.md §4)."""
    seen: list[str] = []
    upstream = httpx.AsyncClient()

    async def one_spelling_gateway(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if "/customerassetservice/" in request.url.path:
            return httpx.Response(404, text="not found")
        forwarded = await upstream.request(
            request.method,
            str(request.url).replace("http://gateway", sim.url),
            content=request.content,
            headers=request.headers,
        )
        return httpx.Response(
            forwarded.status_code, content=forwarded.content, headers=forwarded.headers
        )

    account = account_for(sim)
    account = type(account)(
        **{**{f: getattr(account, f) for f in account.__slots__}, "base_url": "http://gateway"}
    )
    client = IVHClient(
        account, ClientConfig(**FAST), transport=httpx.MockTransport(one_spelling_gateway)
    )
    try:
        await client.service_assets()
        await client.service_assets()
    finally:
        await client.aclose()
        await upstream.aclose()
    assert seen == [
        "/v2/ivh/crmserver/customerassetservice/getserviceasset",
        "/v2/ivh/crmserver/customerassetsservice/getserviceasset",
        "/v2/ivh/crmserver/customerassetsservice/getserviceasset",
    ]


async def test_configured_path_is_used_as_is(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    path = "/v2/ivh/crmserver/customerassetsservice/describetimbre"
    await make_client(endpoints={"describetimbre": path}).timbres()
    assert [e.path for e in sim.requests.entries()] == [path]


async def test_observer_sees_every_attempt(sim: RunningSimulator) -> None:
    sim.faults.add(Fault(kind="http_error", status=500, times=1))
    seen: list[tuple[str, str]] = []
    client = IVHClient(
        account_for(sim),
        ClientConfig(**FAST),
        observer=lambda endpoint, outcome, _: seen.append((endpoint, outcome)),
    )
    async with client:
        await client.service_assets()
    assert seen == [("getserviceasset", "http_error"), ("getserviceasset", "success")]


async def test_twin_packages_keep_their_ids_whatever_order_pages_arrive_in(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    """Two packages of one type, size and expiry get ids ``X`` and ``X-2`` by page
    order, not by which page came back first (a swap would flip their series)."""
    from monitor.fetch import collect_family

    def package(remaining: int) -> dict[str, object]:
        hours = {"OrderMilliseconds": 360_000_000, "RemainMilliseconds": remaining}
        return {
            "ServiceType": "BroadcastHour",
            "ExpireDate": "2030-01-01 00:00:00",
            "UniversalHourInfoDetail": hours,
        }

    sim.dataset.account("t1").replace("services", [package(1_000), package(2_000)])
    client = make_client(page_size=1)
    ids = {}
    for slow_page in (1, 2):
        sim.faults.clear()
        sim.faults.add(
            Fault(kind="latency", endpoint="getserviceasset", page=slow_page, seconds=0.3)
        )
        result = await collect_family(client, "services")
        ids[slow_page] = {a.id: a.remaining_seconds for a in result.assets}
    assert (
        ids[1]
        == ids[2]
        == {"BroadcastHour-20300101000000": 1.0, "BroadcastHour-20300101000000-2": 2.0}
    )


async def test_a_call_that_succeeds_leaves_no_reference_cycles(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    """Garbage in cycles waits for Python's full collections, which run in whatever
    loop callback allocates next and held it 100-300 ms a time at 10k assets: a
    call that needed no retry must leave none (stamina's retry state used to)."""
    sim.dataset.account("t1").replace("timbres", _timbres(3))
    client = make_client()
    await client.timbres()  # the spelling probe and the connection, once
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            await client.timbres()
        found = gc.collect()
    finally:
        gc.enable()
    assert found < 20 * 5, f"{found} objects in cycles after 20 calls"


@pytest.mark.parametrize(("level", "logged"), [(logging.DEBUG, True), (logging.INFO, False)])
async def test_each_call_is_a_debug_event_at_debug_level_only(
    make_client: MakeClient, level: int, logged: bool
) -> None:
    """``api.call`` is skipped unbuilt under a logger above debug, and still logged at debug."""
    saved = structlog.get_config()
    capture = LogCapture()
    structlog.configure(
        processors=[capture], wrapper_class=structlog.make_filtering_bound_logger(level)
    )
    try:
        await make_client().timbres()
    finally:
        structlog.configure(**saved)
    calls = [e for e in capture.entries if e["event"] == "api.call"]
    if logged:
        assert [(c["endpoint"], c["page"], c["outcome"]) for c in calls] == [
            ("describetimbre", 1, "success")
        ]
        assert calls[0]["account"] == "t1"
    else:
        assert calls == []
