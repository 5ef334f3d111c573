"""Listings are checked, not taken on trust (docs/ivh-api.md §3), against the simulator
over real HTTP: short, lying and shifting pages; and the path spelling (§4) found once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from monitor.client import IVHClient, Listing
from monitor.config import ClientConfig
from monitor.errors import IncompleteListingError
from monitor.fetch import collect_family
from monitor.simulator import Dataset, Fault, RunningSimulator, run_simulator
from tests.conftest import FAST, account_for, sim_account

MakeClient = Callable[..., IVHClient]


def _timbres(n: int) -> list[dict[str, Any]]:
    return [{"TimbreKey": f"v{i:04d}", "ExpireDate": "+30d"} for i in range(n)]


def _package(n: int, remaining_ms: int = 3_600_000) -> dict[str, Any]:
    # distinct expiries: service packages have no key, only their content (§4.1)
    return {
        "ServiceType": "BroadcastHour",
        "ExpireDate": f"2030-01-01 00:{n // 60:02d}:{n % 60:02d}",
        "UniversalHourInfoDetail": {
            "OrderMilliseconds": 36_000_000,
            "RemainMilliseconds": remaining_ms,
        },
    }


def _walks(sim: RunningSimulator, endpoint: str) -> list[int | None]:
    return [e.page_index for e in sim.requests.entries() if e.endpoint == endpoint]


async def test_rows_short_of_total_fail_after_a_second_walk(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    """The gateway says Total 175 but its last page carries 45 rows, not 75."""
    sim.dataset.account("t1").replace("timbres", _timbres(175))
    sim.faults.add(Fault(kind="short_listing", endpoint="describetimbre", page=2, count=30))
    with capture_logs() as logs, pytest.raises(IncompleteListingError) as caught:
        await make_client().timbres()
    error = caught.value
    assert (error.reason, error.rows, error.total) == ("short", 145, 175)
    assert str(error) == (
        "t1: describetimbre: incomplete listing describetimbre: 145 rows delivered,"
        " Total 175 (fewer rows than Total), on two walks"
    )
    assert _walks(sim, "describetimbre") == [1, 2, 1, 2]  # walked once more, then failed
    [retry] = [e for e in logs if e["event"] == "api.listing_inconsistent"]
    assert (retry["rows"], retry["total"], retry["reason"]) == (145, 175, "short")
    # what did arrive is kept, for a caller with nothing better to show
    assert isinstance(error.partial, Listing)
    assert len(error.partial.records) == 145


async def test_a_page_short_once_is_fixed_by_the_second_walk(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    sim.dataset.account("t1").replace("timbres", _timbres(175))
    sim.faults.add(Fault(kind="short_listing", endpoint="describetimbre", page=1, count=1, times=1))
    listing = await make_client().timbres()
    assert sorted(r.key for r in listing.records) == [f"v{i:04d}" for i in range(175)]
    assert (listing.rows, listing.total) == (175, 175)


async def test_a_total_that_lies_fails_at_the_first_page(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    """Total 10⁹ and every page full of made-up rows: nothing past page 1 is fetched."""
    sim.dataset.account("t1").replace("timbres", _timbres(100))
    sim.faults.add(Fault(kind="total", endpoint="describetimbre", total=10**9, fill=True))
    with pytest.raises(IncompleteListingError) as caught:
        await make_client().timbres()
    assert (caught.value.reason, caught.value.total) == ("too_large", 10**9)
    assert _walks(sim, "describetimbre") == [1]


async def test_a_total_above_the_rows_delivered_fails(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    sim.dataset.account("t1").replace("timbres", _timbres(145))
    sim.faults.add(Fault(kind="total", endpoint="describetimbre", total=175))
    with pytest.raises(IncompleteListingError) as caught:
        await make_client().timbres()
    assert (caught.value.reason, caught.value.rows, caught.value.total) == ("short", 145, 175)


async def test_a_total_that_changes_between_pages_triggers_one_rewalk(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    sim.dataset.account("t1").replace("timbres", _timbres(150))
    sim.faults.add(Fault(kind="total", endpoint="describetimbre", page=2, total=151, times=1))
    listing = await make_client().timbres()
    assert len(listing.records) == 150
    assert _walks(sim, "describetimbre") == [1, 2, 1, 2]


async def test_a_package_repeated_across_pages_is_not_counted_twice(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    """A purchase between two pages shifts offset pagination: the last package of page 1
    comes again at the top of page 2. Its hours must not be counted twice."""
    sim.dataset.account("t1").replace("services", [_package(i) for i in range(150)])
    sim.faults.add(Fault(kind="shift", endpoint="getserviceasset", page=2, count=1, times=1))
    result = await collect_family(make_client(), "services")
    assert result.ok
    assert len(result.assets) == 150
    assert sum(a.remaining_seconds or 0 for a in result.assets) == 150 * 3600
    assert _walks(sim, "getserviceasset") == [1, 2, 1, 2]


async def test_a_listing_that_keeps_shifting_fails(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    sim.dataset.account("t1").replace("timbres", _timbres(150))
    sim.faults.add(Fault(kind="shift", endpoint="describetimbre", page=2, count=1))
    with pytest.raises(IncompleteListingError) as caught:
        await make_client().timbres()
    assert caught.value.reason == "repeated"


async def test_twin_packages_across_a_page_boundary_are_two_packages(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    """Identical records (same type, expiry and figures) that straddle a page boundary on
    both walks are twins, not a repeat: both are kept."""
    packages = [_package(i) for i in range(99)] + [_package(500), _package(500)]
    sim.dataset.account("t1").replace("services", packages)
    result = await collect_family(make_client(), "services")
    assert result.ok
    assert len(result.assets) == 101
    twins = sorted(a.id for a in result.assets if a.id.startswith("BroadcastHour-2030010100082"))
    assert twins == ["BroadcastHour-20300101000820", "BroadcastHour-20300101000820-2"]


async def test_an_incomplete_family_names_the_listing(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    """One type code's walk falls short: the images family fails with reason
    'incomplete', naming that listing, and keeps what did arrive."""
    account = sim.dataset.account("t1")
    account.replace(
        "images",
        [
            {
                "VirtualmanKey": f"img{i}",
                "AnchorCode": "a",
                "VirtualmanTypeCode": "real_man_2d",
                "ExpireDate": "+30d",
            }
            for i in range(5)
        ],
    )
    sim.faults.add(
        Fault(kind="total", endpoint="getimagebyanchor", total=9)  # every code claims 9
    )
    client = make_client()
    result = await collect_family(client, "images", type_codes=["real_man_2d", "cartoon_3d"])
    assert not result.ok
    assert result.partial
    assert result.error is not None
    assert result.error.kind == "incomplete"
    assert sorted(e.listing for e in result.incomplete) == [
        "getimagebyanchor(cartoon_3d)",
        "getimagebyanchor(real_man_2d)",
    ]
    assert sorted(a.id for a in result.assets) == [f"img{i}" for i in range(5)]


class _Statuses(httpx.AsyncBaseTransport):
    """Counts the HTTP statuses a real transport gets back."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.statuses: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        self.statuses.append(response.status_code)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.mark.parametrize(("spellings", "not_found"), [("document", 1), ("public", 0)])
async def test_the_path_spelling_is_found_once_per_account(spellings: str, not_found: int) -> None:
    """Against a gateway that serves one document's spelling only, one collection of
    every family (concurrent walks) costs at most the one 404 of the probe."""
    from monitor.fetch import collect_account

    dataset = Dataset([sim_account()])
    dataset.account("t1").replace("timbres", _timbres(250))
    dataset.account("t1").replace(
        "images",
        [
            {"VirtualmanKey": "k3d", "AnchorCode": "a", "VirtualmanTypeCode": "cartoon_3d"},
            {"VirtualmanKey": "k2d", "AnchorCode": "a", "VirtualmanTypeCode": "real_man_2d"},
        ],
    )
    dataset.account("t1").replace("actions", {"k3d": [{"ActionCode": "wave"}]})
    async with run_simulator(dataset, spellings=spellings) as sim:  # type: ignore[arg-type]
        transport = _Statuses()
        config = ClientConfig(**{**FAST, "page_size": 100, "max_concurrency": 4})
        async with IVHClient(account_for(sim), config, transport=transport) as client:
            results = await collect_account(client, config.virtualman_type_codes)
    assert all(r.ok for r in results), [str(r.error) for r in results]
    assert transport.statuses.count(404) == not_found
    actions = next(r for r in results if r.family == "actions")
    assert actions.actions == {"k3d": 1}


@pytest.mark.parametrize("count", [6, 150])
async def test_a_gateway_ignoring_page_index_never_multiplies_packages(
    sim: RunningSimulator, make_client: MakeClient, count: int
) -> None:
    """Every page is the first: service packages (no key) come again and again. Not
    twins: the walk with other page boundaries (pages of 100) sees other rows. Where
    that walk fits in one page it is the truth; where it does not, the family fails."""
    sim.dataset.account("t1").replace("services", [_package(i) for i in range(count)])
    sim.faults.add(Fault(kind="same_page", endpoint="getserviceasset"))
    result = await collect_family(make_client(page_size=2 if count < 100 else 50), "services")
    if count < 100:
        assert result.ok
        assert len(result.assets) == count
        assert sum(a.remaining_seconds or 0 for a in result.assets) == count * 3600
    else:
        assert not result.ok
        assert [e.reason for e in result.incomplete] == ["repeated"]


async def test_keyless_pages_that_overlap_on_every_walk_are_not_twins(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    sim.dataset.account("t1").replace("services", [_package(i) for i in range(150)])
    sim.faults.add(Fault(kind="shift", endpoint="getserviceasset", page=2, count=1))
    result = await collect_family(make_client(page_size=50), "services")
    assert not result.ok
    assert result.incomplete[0].reason == "repeated"


@pytest.mark.parametrize("rows", [5, 0])
async def test_a_listing_without_total_is_never_complete(
    sim: RunningSimulator, make_client: MakeClient, rows: int
) -> None:
    """Rows and no Total to count them against: what arrived is kept, but the listing
    fails (an empty first page without Total is an empty listing)."""
    sim.dataset.account("t1").replace("timbres", _timbres(rows))
    sim.faults.add(Fault(kind="no_total", endpoint="describetimbre"))
    if not rows:
        assert (await make_client(page_size=2).timbres()).records == []
        return
    with pytest.raises(IncompleteListingError) as caught:
        await make_client(page_size=2).timbres()
    assert caught.value.reason == "no_total"
    assert "no readable Total" in str(caught.value)
    assert isinstance(caught.value.partial, Listing)
    assert len(caught.value.partial.records) == rows


@pytest.mark.parametrize(
    "first",
    [Fault(kind="http_error", status=502, times=1), Fault(kind="hang", times=1)],
    ids=["502", "hang"],
)
async def test_a_probe_that_fails_still_teaches_the_spelling(first: Fault) -> None:
    """The first call reaching the gateway's one spelling fails (502, or no answer in
    time): the 404 before it is remembered, and no other walk spends its own."""
    from monitor.fetch import collect_account

    dataset = Dataset([sim_account()])
    dataset.account("t1").replace("timbres", _timbres(250))
    async with run_simulator(dataset, spellings="document") as sim:
        sim.faults.add(first)
        transport = _Statuses()
        config = ClientConfig(**{**FAST, "timeout_seconds": 0.5, "retries": 2})
        async with IVHClient(account_for(sim), config, transport=transport) as client:
            results = await collect_account(client, config.virtualman_type_codes)
    assert all(r.ok for r in results), [str(r.error) for r in results]
    assert transport.statuses.count(404) == 1
