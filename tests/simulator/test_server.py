"""The IVH simulator over real HTTP, with requests built by hand (docs/ivh-api.md)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from monitor.simulator import (
    DEMO_ACCOUNTS,
    Dataset,
    DatasetError,
    Fault,
    FaultRegistry,
    RunningSimulator,
    SimAccount,
    default_dataset,
    generate_fleet,
    load_dataset,
    run_simulator,
)
from monitor.simulator.fleet import service_types
from monitor.simulator.records import BEIJING

NOW = datetime(2026, 3, 1, 4, 0, 0, tzinfo=UTC)
TS = int(NOW.timestamp())
ONE_S = "/v2/ivh/crmserver/customerassetservice"
TWO_S = "/v2/ivh/crmserver/customerassetsservice"
XINGHE, LANJING, HORIZON, EMPTY = DEMO_ACCOUNTS
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _signature(params: Mapping[str, str], token: str, *, safe: str = "") -> str:
    """docs/ivh-api.md §1, written independently of the simulator."""
    text = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
    digest = hmac.new(token.encode(), text.encode(), hashlib.sha256).digest()
    return quote(base64.b64encode(digest).decode(), safe=safe)


def _query(appkey: str, token: str, ts: int = TS, *, safe: str = "") -> str:
    sig = _signature({"appkey": appkey, "timestamp": str(ts)}, token, safe=safe)
    return f"appkey={quote(appkey, safe='')}&timestamp={ts}&signature={sig}"


async def _post(
    client: httpx.AsyncClient,
    sim: RunningSimulator,
    endpoint: str,
    payload: Mapping[str, Any] | None = None,
    *,
    account: tuple[str, str, str] = XINGHE,
    ts: int = TS,
    prefix: str = ONE_S,
    query: str | None = None,
    body: Any = None,
    wait_s: float = 5.0,
) -> httpx.Response:
    _, appkey, token = account
    q = query if query is not None else _query(appkey, token, ts)
    content = json.dumps(body if body is not None else {"Header": {}, "Payload": payload or {}})
    return await client.post(
        f"{sim.url}{prefix}/{endpoint}?{q}",
        content=content.encode(),
        headers={"Content-Type": "application/json;charset=utf-8"},
        timeout=wait_s,
    )


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["Header"]["Code"] == 0, body["Header"]
    payload: dict[str, Any] = body["Payload"]
    return payload


def _code(response: httpx.Response) -> int:
    code: int = response.json()["Header"]["Code"]
    return code


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(default_dataset(NOW), clock=NOW.timestamp) as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


# --------------------------------------------------------------------------- signing and auth


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"appkey": "example_appkey", "timestamp": "1717639699"},
            "aCNWYzZdplxWVo%2BJsqzZc9%2BJ9XrwWWITfX3eQpsLVno%3D",
        ),
        (
            {
                "appkey": "example_appkey",
                "requestid": "example_requestid",
                "timestamp": "1717639699",
            },
            "QVenICk0VHtHGYZKXM6IC%2BW1CjZC1joSr%2Fx0gfKKYT4%3D",
        ),
    ],
)
def test_signing_helper_matches_reference_vectors(params: dict[str, str], expected: str) -> None:
    assert _signature(params, "example_accesstoken") == expected


async def test_good_call_on_both_path_spellings(
    sim: RunningSimulator, client: httpx.AsyncClient
) -> None:
    ids = set()
    for prefix in (ONE_S, TWO_S):
        response = await _post(client, sim, "getserviceasset", {"PageIndex": 1}, prefix=prefix)
        payload = _ok(response)
        assert payload["Total"] == 15
        assert len(payload["ServiceAssetInfos"]) == 10  # default PageSize
        assert response.headers["content-type"].startswith("application/json")
        assert parsedate_to_datetime(response.headers["date"]) == NOW
        header = response.json()["Header"]
        assert HEX32.match(header["RequestID"])
        assert header["SessionID"].startswith("gz")
        assert header["Message"] == "ok"
        assert header["DialogID"] == ""
        ids.add(header["RequestID"])
    assert len(ids) == 2
    assert sim.requests.counts() == {"xinghe-live": {"getserviceasset": 2}}


async def test_auth_failures_are_application_errors(
    sim: RunningSimulator, client: httpx.AsyncClient
) -> None:
    name, appkey, token = XINGHE
    cases = {
        "bad signature": _query(appkey, "wrong-token"),
        "unknown appkey": _query("ak-nobody", token),
        "stale timestamp": _query(appkey, token, TS - 301),
        "future timestamp": _query(appkey, token, TS + 301),
        "missing signature": f"appkey={appkey}&timestamp={TS}",
        "non-numeric timestamp": f"appkey={appkey}&timestamp=soon&signature=x",
    }
    messages = {}
    for case, query in cases.items():
        response = await _post(client, sim, "getserviceasset", query=query)
        assert response.status_code == 200, case
        assert _code(response) == 100005, case
        assert HEX32.match(response.json()["Header"]["RequestID"])
        messages[case] = response.json()["Header"]["Message"].split(":")[0]
    assert messages["bad signature"] == "AuthFailure.SignatureFailure"
    assert messages["unknown appkey"] == "AuthFailure.InvalidAppKey"
    assert messages["stale timestamp"] == "AuthFailure.SignatureExpire"
    assert messages["missing signature"] == "AuthFailure.InvalidAuthorization"
    # Within the ±300 s window is fine, either side.
    for skew in (-299, 299):
        _ok(await _post(client, sim, "getserviceasset", ts=TS + skew))
    assert all(e.account in (name, None) for e in sim.requests.entries())


async def test_signature_slash_left_raw_is_accepted_but_raw_plus_is_not(
    sim: RunningSimulator, client: httpx.AsyncClient
) -> None:
    _, appkey, token = XINGHE

    def raw_sig(ts: int) -> str:
        return _signature({"appkey": appkey, "timestamp": str(ts)}, token, safe="/+=")

    with_slash = next(ts for ts in range(TS - 200, TS) if "/" in raw_sig(ts))
    query = _query(appkey, token, with_slash, safe="/")  # the vendor's Python demo
    _ok(await _post(client, sim, "getserviceasset", query=query))
    assert sim.requests.entries()[-1].signature_raw_slash is True

    with_plus = next(ts for ts in range(TS - 200, TS) if "+" in raw_sig(ts))
    query = f"appkey={appkey}&timestamp={with_plus}&signature={raw_sig(with_plus)}"
    assert _code(await _post(client, sim, "getserviceasset", query=query)) == 100005


async def test_clock_skew_visible_in_date_header(client: httpx.AsyncClient) -> None:
    async with run_simulator(default_dataset(NOW), clock=lambda: NOW.timestamp() + 600) as sim:
        response = await _post(client, sim, "getserviceasset")
        assert _code(response) == 100005
        assert parsedate_to_datetime(response.headers["date"]) - NOW == timedelta(seconds=600)


# --------------------------------------------------------------------------- envelope, paging


async def test_envelope_is_checked(sim: RunningSimulator, client: httpx.AsyncClient) -> None:
    bodies: list[Any] = [{"Payload": {}}, {"Header": [], "Payload": {}}, {"Header": {}}, [1]]
    for body in bodies:
        response = await _post(client, sim, "getserviceasset", body=body)
        assert response.status_code == 200
        assert _code(response) == 100001, body
    _, appkey, token = XINGHE
    response = await client.post(
        f"{sim.url}{ONE_S}/getserviceasset?{_query(appkey, token)}", content=b"not json"
    )
    assert _code(response) == 100001


def _services_account(name: str, count: int) -> SimAccount:
    services = [
        {
            "ServiceType": "BroadcastHour",
            "ExpireDate": "2030-01-01 00:00:00",
            "UniversalHourInfoDetail": {"OrderMilliseconds": i, "RemainMilliseconds": i},
        }
        for i in range(count)
    ]
    return SimAccount(name, f"ak-{name}", f"at-{name}", services=services)


@pytest.mark.parametrize(
    ("count", "pages"), [(0, [0]), (100, [100]), (101, [100, 1]), (250, [100, 100, 50])]
)
async def test_pagination(client: httpx.AsyncClient, count: int, pages: list[int]) -> None:
    account = _services_account(f"n{count}", count)
    creds = (account.name, account.appkey, account.access_token)
    async with run_simulator(Dataset([account]), clock=NOW.timestamp) as sim:
        seen: list[int] = []
        page_sizes: list[int] = []
        index = 1
        while True:
            payload = _ok(
                await _post(
                    client,
                    sim,
                    "getserviceasset",
                    {"PageIndex": index, "PageSize": 100},
                    account=creds,
                )
            )
            assert payload["Total"] == count
            records = payload["ServiceAssetInfos"]
            page_sizes.append(len(records))
            seen += [r["UniversalHourInfoDetail"]["RemainMilliseconds"] for r in records]
            if index * 100 >= payload["Total"] or len(records) < 100:
                break
            index += 1
        assert page_sizes == pages
        assert seen == list(range(count))
        # Past the end: an empty page that still says Total.
        beyond = _ok(
            await _post(
                client, sim, "getserviceasset", {"PageIndex": 9, "PageSize": 100}, account=creds
            )
        )
        assert beyond == {"ServiceAssetInfos": [], "Total": count}


async def test_page_parameters_are_validated(
    sim: RunningSimulator, client: httpx.AsyncClient
) -> None:
    assert _code(await _post(client, sim, "describetimbre", {"PageSize": 101})) == 100002
    assert _code(await _post(client, sim, "describetimbre", {"PageIndex": -1})) == 100002
    assert _code(await _post(client, sim, "describetimbre", {"PageSize": "10"})) == 100001
    # The documented lower-case slip works, as Go's case-insensitive JSON decoding would.
    page2 = _ok(await _post(client, sim, "getserviceasset", {"pageIndex": 2, "PageSize": 10}))
    assert len(page2["ServiceAssetInfos"]) == 5


async def test_filters_and_required_fields(
    sim: RunningSimulator, client: httpx.AsyncClient
) -> None:
    for endpoint in ("getanchor", "getimagebyanchor"):
        assert _code(await _post(client, sim, endpoint, {"PageIndex": 1})) == 100001
    assert _code(await _post(client, sim, "getaction", {})) == 100001

    services = _ok(await _post(client, sim, "getserviceasset", {"ServiceType": "BroadcastHour"}))
    assert services["Total"] == 2
    assert {s["ExpireDate"] for s in services["ServiceAssetInfos"]} == {
        (NOW + timedelta(days=d)).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
        for d in (5, 200)
    }
    voices = _ok(
        await _post(client, sim, "describetimbre", {"TimbreKeyList": ["female_1", "male_11"]})
    )
    assert {v["TimbreKey"] for v in voices["TimbreAssets"]} == {"female_1", "male_11"}

    anchors = _ok(
        await _post(
            client, sim, "getanchor", {"VirtualmanTypeCode": "real_man_3d"}, account=LANJING
        )
    )
    assert [a["AnchorCode"] for a in anchors["Virtualmans"]] == ["xiaowei"]
    images = _ok(
        await _post(
            client,
            sim,
            "getimagebyanchor",
            {"VirtualmanTypeCode": "small_sample_2d", "AnchorCodes": ["wl_pink_skirt_suit_stand"]},
            account=LANJING,
        )
    )
    assert images["Total"] == 2
    by_key = _ok(
        await _post(
            client,
            sim,
            "describesmallsampleimage",
            {"VirtualmanKey": "d3bf659f364243ceacbe026710bdc25f"},
            account=LANJING,
        )
    )
    assert by_key["Total"] == 1

    actions = _ok(
        await _post(
            client,
            sim,
            "getaction",
            {"VirtualmanKey": "8af9c7a960ab44c9bfe8a48deae6a250"},
            account=LANJING,
        )
    )
    assert len(actions["Actions"]) == 18
    assert "Total" not in actions
    unknown = _ok(await _post(client, sim, "getaction", {"VirtualmanKey": "nope"}))
    assert unknown == {"Actions": []}
    empty = _ok(await _post(client, sim, "getserviceasset", account=EMPTY))
    assert empty == {"ServiceAssetInfos": [], "Total": 0}


# --------------------------------------------------------------------------- faults


async def test_fault_latency_and_errors(sim: RunningSimulator, client: httpx.AsyncClient) -> None:
    sim.faults.add(Fault(kind="latency", seconds=0.05, times=1))
    started = time.monotonic()
    _ok(await _post(client, sim, "getserviceasset"))
    assert time.monotonic() - started >= 0.05

    sim.faults.add(Fault(kind="http_error", status=502, times=1))
    response = await _post(client, sim, "getserviceasset")
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "date" in response.headers

    sim.faults.add({"kind": "api_error", "code": 100013, "message": "X.Y:小时包不足", "times": 1})
    response = await _post(client, sim, "getserviceasset")
    assert response.status_code == 200
    assert response.json()["Header"]["Code"] == 100013
    assert response.json()["Header"]["Message"] == "X.Y:小时包不足"

    sim.faults.add(Fault(kind="rate_limit", times=1))
    response = await _post(client, sim, "getserviceasset")
    assert (response.status_code, _code(response)) == (200, 100012)
    assert response.json()["Header"]["Message"].startswith("RequestLimitExceeded")

    sim.faults.add(Fault(kind="rate_limit", status=429, times=1))
    response = await _post(client, sim, "getserviceasset")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"

    sim.faults.add(Fault(kind="garbage_body", times=1))
    response = await _post(client, sim, "getserviceasset")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)

    sim.faults.add(Fault(kind="wrong_content_type", times=1))
    response = await _post(client, sim, "getserviceasset")
    assert response.headers["content-type"].startswith("text/html")
    assert response.json()["Header"]["Code"] == 0

    # Every one expired after its single use.
    assert sim.faults.list() == []
    _ok(await _post(client, sim, "getserviceasset"))
    outcomes = [e.outcome for e in sim.requests.entries()]
    assert outcomes == [
        "ok",
        "http_error",
        "api_error",
        "api_error",
        "api_error",
        "garbage_body",
        "ok",
        "ok",
    ]


@pytest.mark.parametrize("corruption", ["wrong_type", "not_object", "bad_date"])
async def test_fault_malformed_record_breaks_only_one(
    sim: RunningSimulator, client: httpx.AsyncClient, corruption: str
) -> None:
    clean = _ok(await _post(client, sim, "describetimbre", {"PageSize": 5}))["TimbreAssets"]
    sim.faults.add(
        {"kind": "malformed_record", "endpoint": "describetimbre", "record": 1,
         "corruption": corruption, "times": 1}
    )  # fmt: skip
    broken = _ok(await _post(client, sim, "describetimbre", {"PageSize": 5}))["TimbreAssets"]
    assert len(broken) == len(clean) == 5
    assert [r for i, r in enumerate(broken) if i != 1] == [r for i, r in enumerate(clean) if i != 1]
    assert broken[1] != clean[1]
    if corruption == "wrong_type":
        assert broken[1]["AudioDuration"] == "n/a"
    elif corruption == "not_object":
        assert not isinstance(broken[1], dict)
    else:
        assert broken[1]["ExpireDate"] == "2024-02-30 25:61:00"
    # The next page is clean again, and so is the dataset.
    assert _ok(await _post(client, sim, "describetimbre", {"PageSize": 5}))["TimbreAssets"] == clean


async def test_fault_matching_by_account_endpoint_page(
    sim: RunningSimulator, client: httpx.AsyncClient
) -> None:
    sim.faults.add(
        Fault(kind="api_error", account="xinghe-live", endpoint="getserviceasset", page=2)
    )
    sim.faults.add(Fault(kind="http_error", status=503, account=HORIZON[1], times=2))
    assert _code(await _post(client, sim, "getserviceasset", {"PageIndex": 2})) == 100000
    _ok(await _post(client, sim, "getserviceasset", {"PageIndex": 1}))
    _ok(await _post(client, sim, "describetimbre", {"PageIndex": 2}))
    _ok(await _post(client, sim, "getserviceasset", {"PageIndex": 2}, account=LANJING))
    for _ in range(2):
        assert (await _post(client, sim, "describetimbre", account=HORIZON)).status_code == 503
    _ok(await _post(client, sim, "describetimbre", account=HORIZON))
    assert _code(await _post(client, sim, "getserviceasset", {"PageIndex": 2})) == 100000
    assert len(sim.faults.list()) == 1  # times=None stays until cleared
    sim.faults.clear()
    _ok(await _post(client, sim, "getserviceasset", {"PageIndex": 2}))


def test_fault_probability_and_validation() -> None:
    registry = FaultRegistry(seed=1)
    registry.add(Fault(kind="garbage_body", probability=0.5))
    hits = sum(bool(registry.take({"a"}, "getanchor", 1)) for _ in range(400))
    assert 120 < hits < 280
    for bad in (
        {"kind": "http_error"},
        {"kind": "rate_limit", "status": 500},
        {"kind": "explode"},
        {"kind": "latency"},
    ):
        with pytest.raises(ValueError, match="validation error"):
            Fault.model_validate(bad)


async def test_fault_hang_times_out_and_does_not_block_shutdown(
    client: httpx.AsyncClient,
) -> None:
    started = time.monotonic()
    async with run_simulator(default_dataset(NOW), clock=NOW.timestamp) as sim:
        sim.faults.add(Fault(kind="hang", times=1))
        with pytest.raises(httpx.ReadTimeout):
            await _post(client, sim, "getserviceasset", wait_s=0.3)
        _ok(await _post(client, sim, "getserviceasset"))
        # A second hang still pending when the server shuts down.
        sim.faults.add(Fault(kind="hang"))
        pending = asyncio.create_task(_post(client, sim, "getserviceasset", wait_s=30))
        for _ in range(500):  # until the server has logged the hung request
            if sim.requests.count() == 3:
                break
            await asyncio.sleep(0.01)
        assert [e.outcome for e in sim.requests.entries()] == ["hang", "ok", "hang"]
    with pytest.raises(httpx.TransportError):
        await pending
    assert time.monotonic() - started < 2.0


async def test_rate_limiter(client: httpx.AsyncClient) -> None:
    async with run_simulator(
        default_dataset(NOW), clock=NOW.timestamp, rate_limit_per_second=2
    ) as sim:
        codes = [_code(await _post(client, sim, "getserviceasset")) for _ in range(3)]
        assert codes == [0, 0, 100012]
        _ok(await _post(client, sim, "getserviceasset", account=LANJING))  # per appkey


# --------------------------------------------------------------------------- control API


async def test_control_api(sim: RunningSimulator, client: httpx.AsyncClient) -> None:
    created = await client.post(
        f"{sim.url}/_sim/faults", json={"kind": "http_error", "status": 500, "times": 1}
    )
    assert created.status_code == 201
    listed = (await client.get(f"{sim.url}/_sim/faults")).json()["faults"]
    assert [(f["kind"], f["status"], f["remaining"]) for f in listed] == [("http_error", 500, 1)]
    assert (await _post(client, sim, "getserviceasset")).status_code == 500
    bad = await client.post(f"{sim.url}/_sim/faults", json={"kind": "nonsense"})
    assert bad.status_code == 400

    await client.post(f"{sim.url}/_sim/faults", json=[{"kind": "garbage_body"}])
    assert (await client.delete(f"{sim.url}/_sim/faults")).json() == {"cleared": 1}

    # Remove an asset from another process's point of view.
    services = (await client.get(f"{sim.url}/_sim/accounts/xinghe-live/services")).json()
    put = await client.put(f"{sim.url}/_sim/accounts/xinghe-live/services", json=services[1:])
    assert put.status_code == 200
    assert _ok(await _post(client, sim, "getserviceasset"))["Total"] == 14
    wrong = await client.put(f"{sim.url}/_sim/accounts/xinghe-live/nope", json=[])
    assert wrong.status_code == 400
    assert (await client.put(f"{sim.url}/_sim/accounts/ghost/services", json=[])).status_code == 404

    requests = (await client.get(f"{sim.url}/_sim/requests", params={"limit": 1})).json()
    assert requests["counts"] == {"xinghe-live": {"getserviceasset": 2}}
    assert requests["recent"][0]["page_size"] == 10
    assert requests["recent"][0]["outcome"] == "ok"

    clock = await client.put(f"{sim.url}/_sim/clock", json={"offset_seconds": 3600})
    assert clock.json()["offset_seconds"] == 3600
    assert _code(await _post(client, sim, "getserviceasset")) == 100005

    assert (await client.post(f"{sim.url}/_sim/reset")).json() == {"reset": True}
    assert _ok(await _post(client, sim, "getserviceasset"))["Total"] == 15
    assert sim.requests.count() == 1


async def test_in_process_mutation_is_seen_by_the_next_call(
    sim: RunningSimulator, client: httpx.AsyncClient
) -> None:
    account = sim.dataset.account("xinghe-live")
    account.set_service_figures("BroadcastHour", index=1, RemainMilliseconds=0)
    assert account.remove("timbres", TimbreKey="female_1") == 1
    services = _ok(await _post(client, sim, "getserviceasset", {"ServiceType": "BroadcastHour"}))
    second = services["ServiceAssetInfos"][1]
    assert second["UniversalHourInfoDetail"]["RemainMilliseconds"] == 0
    assert second["BroadcastHourInfoDetail"]["RemainMilliseconds"] == 0
    assert _ok(await _post(client, sim, "describetimbre"))["Total"] == 4


# --------------------------------------------------------------------------- datasets


def _days_left(expire: str) -> float:
    moment = datetime.strptime(expire, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    return (moment - NOW).total_seconds() / 86400


def test_default_dataset_holds_what_it_promises() -> None:
    dataset = default_dataset(NOW)
    assert [(a.name, a.appkey, a.access_token) for a in dataset.accounts] == DEMO_ACCOUNTS
    assert {a.gateway for a in dataset.accounts} == {"gw.tvs.qq.com", "gw-sg.tvs.qq.com"}
    services = [s for a in dataset.accounts for s in a.services]
    known = {t["code"]: t["category"] for t in service_types()}
    assert {known[s["ServiceType"]] for s in services if s["ServiceType"] in known} == {
        "hours",
        "concurrency",
        "quota",
    }
    assert len({s["ServiceType"] for s in services} & known.keys()) >= 25
    unknown = [s for s in services if s["ServiceType"] not in known]
    assert [s["ServiceType"] for s in unknown] == ["Lite3DBroadcastHour"]
    assert set(unknown[0]) == {"ServiceType", "ExpireDate", "UniversalHourInfoDetail"}
    assert any(isinstance(s.get("TimbreHourInfoDetail"), list) for s in services)

    xinghe = dataset.account("xinghe-live")
    hours = [
        s["UniversalHourInfoDetail"] for s in xinghe.services if "UniversalHourInfoDetail" in s
    ]
    ratios = [h["RemainMilliseconds"] / h["OrderMilliseconds"] for h in hours]
    assert 0.0 in ratios
    assert 0.03 in ratios
    assert any(s.get("UniversalAssetInfoDetail", {}).get("RemainNum") == 0 for s in services)
    broadcast = [s["ExpireDate"] for s in xinghe.services if s["ServiceType"] == "BroadcastHour"]
    assert len(set(broadcast)) == 2

    days = sorted(round(_days_left(s["ExpireDate"])) for s in xinghe.services)
    for wanted in (2, 5, 12, 25, 60, 200, -3):
        assert wanted in days
    # Relative dates render in Beijing time.
    assert xinghe.services[0]["ExpireDate"] == "2026-03-06 12:00:00"

    timbres = {t["TimbreKey"]: t for t in xinghe.timbres}
    assert timbres["female_1"]["ExpireDate"] == ""
    assert "ExpireDate" not in timbres["male_11"]

    image_keys = {i["VirtualmanKey"] for i in xinghe.images}
    small_keys = {i["VirtualmanKey"] for i in xinghe.small_sample_images}
    shared = image_keys & small_keys
    assert len(shared) == 1
    small = next(i for i in xinghe.small_sample_images if i["VirtualmanKey"] in shared)
    assert small["ExpireTime"] == int(
        datetime.strptime(small["ExpireDate"], "%Y-%m-%d %H:%M:%S")
        .replace(tzinfo=BEIJING)
        .timestamp()
        * 1000
    )

    images = [i for a in dataset.accounts for i in a.images]
    assert any(isinstance(i["OriginZoom"], str) for i in images)
    assert any(isinstance(i["OriginZoom"], float) for i in images)
    assert any("BackgroundChangeable" not in i for i in images)
    assert len({i["VirtualmanTypeCode"] for i in images}) >= 6
    for account in dataset.accounts:
        anchors = {(a["AnchorCode"], a["VirtualmanTypeCode"]) for a in account.anchors}
        for image in account.images:
            assert (image["AnchorCode"], image["VirtualmanTypeCode"]) in anchors
            three_d = image["VirtualmanTypeCode"].endswith("_3d")
            assert bool(account.actions.get(image["VirtualmanKey"])) == three_d

    vendor = json.loads(
        resources.files("monitor.simulator").joinpath("vendor_examples.json").read_text("utf-8")
    )
    lanjing = dataset.account("lanjing-studio")
    for collection in ("services", "timbres", "anchors", "images", "small_sample_images"):
        records = getattr(lanjing, collection)
        assert all(r in records for r in vendor[collection]), collection
    assert lanjing.actions == vendor["actions"]
    assert dataset.account("empty-trial").services == []


def test_load_dataset_renders_relative_dates(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(
        """
accounts:
  - name: a
    appkey: ak-a
    access_token: at-a
    services:
      - {ServiceType: BroadcastHour, ExpireDate: "+7d"}
      - {ServiceType: BroadcastHour, ExpireDate: "-3d"}
      - {ServiceType: BroadcastHour, ExpireDate: "+36h"}
      - {ServiceType: BroadcastHour, ExpireDate: "+90m"}
      - {ServiceType: BroadcastHour, ExpireDate: "2024-04-05 11:31:07"}
      - {ServiceType: BroadcastHour, ExpireDate: 2024-04-05 11:31:07}
    small_sample_images:
      - {VirtualmanKey: k, ExpireDate: "+1d", ExpireTime: "+1d", EffectiveTime: 1698734984000}
    actions:
      k: [{ActionCode: bow, ActionName: 鞠躬}]
""",
        encoding="utf-8",
    )
    account = load_dataset(path, NOW).account("ak-a")
    assert [s["ExpireDate"] for s in account.services] == [
        "2026-03-08 12:00:00",
        "2026-02-26 12:00:00",
        "2026-03-03 00:00:00",
        "2026-03-01 13:30:00",
        "2024-04-05 11:31:07",
        "2024-04-05 11:31:07",
    ]
    small = account.small_sample_images[0]
    assert small["ExpireDate"] == "2026-03-02 12:00:00"
    assert small["ExpireTime"] == (TS + 86400) * 1000
    assert small["EffectiveTime"] == 1698734984000
    assert account.actions == {"k": [{"ActionCode": "bow", "ActionName": "鞠躬"}]}

    json_path = tmp_path / "d.json"
    json_path.write_text(
        json.dumps({"accounts": [{"name": "b", "appkey": "k", "access_token": "t"}]})
    )
    assert load_dataset(json_path, NOW).account("b").services == []

    shipped = resources.files("monitor.simulator").joinpath("example-dataset.yaml")
    with resources.as_file(shipped) as example:
        assert load_dataset(example, NOW).account("acme-live").services


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("accounts: [{name: a, appkey: k, access_token: t, services: [{ExpireDate: '+7x'}]}]",
         "services[0].ExpireDate"),
        ("accounts: [{name: a, access_token: t}]", "appkey"),
        ("accounts: [{name: a, appkey: k, access_token: t, services: {}}]", "services"),
        ("accounts: [{name: a, appkey: k, access_token: t, images: [3]}]", "images[0]"),
        ("accounts: [{name: a, appkey: k, access_token: t, colour: red}]", "colour"),
        ("nope: 1", "accounts"),
        ("accounts: [: bad", "not valid"),
    ],
)  # fmt: skip
def test_bad_dataset_file_names_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        load_dataset(path, NOW)
    assert str(path) in str(info.value)
    assert field in str(info.value)


def test_generate_fleet_is_deterministic_and_sized() -> None:
    fleet = generate_fleet(3, 250, NOW, seed=7)
    assert [a.name for a in fleet.accounts] == ["fleet-0001", "fleet-0002", "fleet-0003"]
    account = fleet.accounts[0]
    assert len(account.services) == len(account.timbres) == len(account.images) == 250
    assert len(account.small_sample_images) == 125
    assert generate_fleet(3, 250, NOW, seed=7).to_dict() == fleet.to_dict()
    assert generate_fleet(3, 250, NOW, seed=8).to_dict() != fleet.to_dict()


def test_load_dataset_keeps_blank_and_placeholder_dates_and_odd_details(tmp_path: Path) -> None:
    """docs/ivh-api.md §4.1, §4.5, §6: the vendor sends these; the simulator serves them as is."""
    path = tmp_path / "odd.yaml"
    path.write_text(
        """
accounts:
  - name: odd
    appkey: ak-odd
    access_token: at-odd
    services:
      - {ServiceType: BroadcastHour, ExpireDate: ""}
      - {ServiceType: BroadcastHour, ExpireDate: 0001-01-01 00:00:00}
      - {ServiceType: BroadcastHour, ExpireDate: "0000-00-00 00:00:00"}
      - {ServiceType: BroadcastHour, ExpireDate: 9999-12-31 23:59:59}
      - ServiceType: RealMan2DBroadcastConcurrency
        ExpireDate: "+7d"
        RealMan2DBroadcastConcurrencyInfoDetail: {OrderMilliseconds: 0, RemainMilliseconds: -1}
    small_sample_images:
      - {VirtualmanKey: a, ExpireTime: 0, EffectiveTime: -1}
      - {VirtualmanKey: b, ExpireTime: 253402300799000}
""",
        encoding="utf-8",
    )
    account = load_dataset(path, NOW).account("odd")
    assert [s["ExpireDate"] for s in account.services][:4] == [
        "",
        "0001-01-01 00:00:00",  # an unquoted YAML timestamp, written back with four digits
        "0000-00-00 00:00:00",
        "9999-12-31 23:59:59",
    ]
    assert account.services[4]["RealMan2DBroadcastConcurrencyInfoDetail"] == {
        "OrderMilliseconds": 0,
        "RemainMilliseconds": -1,
    }
    assert [(r["ExpireTime"], r.get("EffectiveTime")) for r in account.small_sample_images] == [
        (0, -1),
        (253402300799000, None),
    ]
