"""One collection of an account's assets, family by family.

A *family* is what one scheduled job refreshes: ``services``, ``timbres``,
``images`` (with anchors) and ``actions`` (of 3D images). A family either
succeeds as a whole (every page of every list it walks) or fails with the
error that stopped it; a record that cannot be read is skipped and reported as
a problem of a family that still succeeds (REFERENCE.md §6).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import structlog

from monitor.aio import all_or_cancel, reap
from monitor.client import IVHClient, Listing, PageOrder
from monitor.derive import (
    ServicePackage,
    SmallSample,
    anchors_to_groups,
    images_to_assets,
    is_3d,
    merge_images,
    number_services,
    service_packages,
    small_sample_assets,
    timbres_to_assets,
)
from monitor.domain import Anchor, Anomaly, Asset
from monitor.errors import UpstreamError
from monitor.models import (
    Action,
    ImageAsset,
    RecordProblem,
)
from monitor.models import Anchor as AnchorRecord

__all__ = ["FAMILIES", "Family", "FamilyResult", "Problem", "collect_account", "collect_family"]

log = structlog.get_logger("monitor.collect")

Family = Literal["services", "timbres", "images", "actions"]
FAMILIES: tuple[Family, ...] = ("services", "timbres", "images", "actions")


@dataclass(frozen=True, slots=True)
class Problem:
    """A record skipped on one endpoint."""

    endpoint: str
    index: int
    key: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class FamilyResult:
    account: str
    family: Family
    assets: tuple[Asset, ...] = ()
    anchors: tuple[Anchor, ...] = ()
    #: VirtualmanKey -> number of actions (the ``actions`` family)
    actions: dict[str, int] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()
    error: UpstreamError | None = None
    pages: int = 0
    duration_seconds: float = 0.0
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def anomalies(self) -> list[tuple[Asset, Anomaly]]:
        """What the kept records carried that could not be placed (not skipped records)."""
        return [(asset, anomaly) for asset in self.assets for anomaly in asset.anomalies]


class _Tally:
    def __init__(self) -> None:
        self.pages = 0
        self.problems: list[Problem] = []
        self.truncated = False

    def add(self, endpoint: str, listing: Listing[Any]) -> None:
        self.pages += listing.pages
        self.truncated |= listing.truncated
        self.problems.extend(_problems(endpoint, listing.problems))


def _problems(endpoint: str, problems: Sequence[RecordProblem]) -> list[Problem]:
    return [Problem(endpoint, p.index, p.key, p.reason) for p in problems]


# Pages are boiled down to assets as they arrive (``on_page``), so a listing is
# never held whole as vendor models (several times an asset's memory), and read
# back in page order (PageOrder), so that ids (services) and the copy that wins
# (voices, images) never depend on which page came back first.


async def _services(client: IVHClient, tally: _Tally) -> dict[str, Any]:
    acct = client.account
    packages: PageOrder[ServicePackage] = PageOrder()
    listing = await client.service_assets(
        on_page=lambda i, page: packages.put(i, service_packages(acct.name, acct.zone, page))
    )
    tally.add("getserviceasset", listing)
    return {"assets": tuple(number_services(packages))}


async def _timbres(client: IVHClient, tally: _Tally) -> dict[str, Any]:
    acct = client.account
    assets: PageOrder[Asset] = PageOrder()
    listing = await client.timbres(
        on_page=lambda i, page: assets.put(i, timbres_to_assets(acct.name, acct.zone, page))
    )
    tally.add("describetimbre", listing)
    by_key = {a.id: a for a in assets}  # TimbreKey is unique: the last copy wins (§4.2)
    return {"assets": tuple(by_key.values())}


async def _images(
    client: IVHClient,
    tally: _Tally,
    type_codes: Sequence[str],
    on_3d_keys: Callable[[list[str]], None] | None = None,
) -> dict[str, Any]:
    # REFERENCE.md §4: getanchor/getimagebyanchor need a type code, so listing
    # every image takes one walk per code, plus the small-sample list.
    acct = client.account
    image_assets: list[PageOrder[Asset]] = [PageOrder() for _ in type_codes]
    small: PageOrder[SmallSample] = PageOrder()

    async def images(i: int) -> Listing[ImageAsset]:
        assets = image_assets[i]
        listing = await client.images(
            type_codes[i],
            on_page=lambda n, page: assets.put(
                n, images_to_assets(acct.name, acct.zone, page, [], listed_as=type_codes[i])
            ),
        )
        if on_3d_keys is not None:
            on_3d_keys([a.id for a in assets if is_3d(a.type)])
        return listing

    # Requests queue for the account's slots in the order they are made: the 3D
    # image walks first, so the actions they lead to start while the rest runs.
    order = sorted(range(len(type_codes)), key=lambda i: not is_3d(type_codes[i]))
    image_tasks = {i: asyncio.ensure_future(images(i)) for i in order}
    anchor_tasks = [asyncio.ensure_future(client.anchors(code)) for code in type_codes]
    small_task = asyncio.ensure_future(
        client.small_sample_images(
            on_page=lambda n, page: small.put(n, small_sample_assets(acct.name, acct.zone, page))
        )
    )
    try:
        await asyncio.gather(*image_tasks.values(), *anchor_tasks, small_task)
    finally:
        await reap([*image_tasks.values(), *anchor_tasks, small_task])
    anchors_raw: list[AnchorRecord] = []
    for task in anchor_tasks:
        tally.add("getanchor", task.result())
        anchors_raw.extend(task.result().records)
    for i in range(len(type_codes)):  # in type-code order, as the problems are reported
        tally.add("getimagebyanchor", image_tasks[i].result())
    tally.add("describesmallsampleimage", small_task.result())
    assets = merge_images(itertools.chain.from_iterable(image_assets), small)
    anchors = anchors_to_groups(acct.name, anchors_raw, assets)
    return {"assets": tuple(assets), "anchors": tuple(anchors)}


async def _actions(
    client: IVHClient,
    tally: _Tally,
    keys: Sequence[str],
    started: Mapping[str, asyncio.Future[Listing[Action]]],
) -> dict[str, Any]:
    listings = await all_or_cancel(started.get(k) or client.actions(k) for k in keys)
    counts: dict[str, int] = {}
    for key, listing in zip(keys, listings, strict=True):
        tally.add("getaction", listing)
        counts[key] = len(listing.records)
    return {"actions": counts}


async def collect_family(
    client: IVHClient,
    family: Family,
    *,
    type_codes: Sequence[str] = (),
    image_keys: Sequence[str] = (),
    on_3d_keys: Callable[[list[str]], None] | None = None,
    started_actions: Mapping[str, asyncio.Future[Listing[Action]]] | None = None,
) -> FamilyResult:
    """Collect one family; never raises for an upstream failure (it is in ``error``).

    ``image_keys`` are the 3D images whose actions to fetch (the ``actions``
    family), ``started_actions`` fetches of them already under way;
    ``on_3d_keys`` hears the 3D image keys of each type code as its walk ends.
    """
    tally = _Tally()
    started = time.perf_counter()
    account = client.account.name
    try:
        if family == "services":
            parts = await _services(client, tally)
        elif family == "timbres":
            parts = await _timbres(client, tally)
        elif family == "images":
            parts = await _images(client, tally, type_codes, on_3d_keys)
        else:
            parts = await _actions(client, tally, image_keys, started_actions or {})
    except UpstreamError as exc:
        duration = time.perf_counter() - started
        # An expected upstream failure, already typed: no traceback needed.
        log.error(  # noqa: TRY400
            "collect.failed",
            family=family,
            duration_s=round(duration, 3),
            pages=tally.pages,
            **exc.log_fields(),
        )
        return FamilyResult(
            account, family, error=exc, pages=tally.pages, duration_seconds=duration
        )
    duration = time.perf_counter() - started
    result = FamilyResult(
        account,
        family,
        problems=tuple(tally.problems),
        pages=tally.pages,
        duration_seconds=duration,
        truncated=tally.truncated,
        **parts,
    )
    for problem in tally.problems:
        log.warning(
            "collect.record_skipped",
            account=account,
            family=family,
            endpoint=problem.endpoint,
            index=problem.index,
            key=problem.key,
            reason=problem.reason,
        )
    _log_oddities(result)
    log.info(
        "collect.finished",
        account=account,
        family=family,
        assets=len(result.assets) or len(result.actions),
        pages=tally.pages,
        skipped=len(tally.problems),
        truncated=tally.truncated,
        duration_s=round(duration, 3),
    )
    return result


def _log_oddities(result: FamilyResult) -> None:
    """One warning per anomaly and per asset whose expiry is unknown (README, "Dates")."""
    for asset, anomaly in result.anomalies:
        log.warning(
            "collect.record_anomaly",
            account=result.account,
            family=result.family,
            endpoint=anomaly.endpoint,
            asset=asset.id,
            reason=anomaly.reason,
            field=anomaly.detail,
        )
    for asset in result.assets:
        if asset.expiry_unknown:
            log.warning(
                "collect.expiry_unknown",
                account=result.account,
                family=result.family,
                kind=asset.kind,
                asset=asset.id,
            )


async def collect_account(
    client: IVHClient,
    type_codes: Sequence[str],
    *,
    on_family_done: Callable[[FamilyResult], None] | None = None,
) -> list[FamilyResult]:
    """Every family of one account: services, voices and images concurrently, and
    the actions of each 3D image as soon as the walk that found it ends (so the
    account's request slots never idle behind the whole images family)."""
    prefetch: dict[str, asyncio.Future[Listing[Action]]] = {}

    def start_actions(keys: list[str]) -> None:
        for key in keys:
            if key not in prefetch:
                prefetch[key] = asyncio.ensure_future(client.actions(key))

    async def run(family: Family) -> FamilyResult:
        result = await collect_family(
            client,
            family,
            type_codes=type_codes,
            on_3d_keys=start_actions if family == "images" else None,
        )
        if family == "images" and not result.ok:
            await reap(prefetch.values())  # at once: no actions for images that failed
        if on_family_done is not None:
            on_family_done(result)
        return result

    try:
        # an upstream failure is a FamilyResult, not an exception; anything else
        # (a bug) must not leave the other families running
        services, timbres, images = await all_or_cancel(
            run(f) for f in ("services", "timbres", "images")
        )
        results = [services, timbres, images]
        if not images.ok:
            return results
        keys = [a.id for a in images.assets if is_3d(a.type)]
        actions = await collect_family(client, "actions", image_keys=keys, started_actions=prefetch)
        if on_family_done is not None:
            on_family_done(actions)
        results.append(actions)
        if actions.ok and keys:
            merged = [
                _with_actions(a, actions.actions) if is_3d(a.type) else a for a in images.assets
            ]
            results[2] = FamilyResult(
                images.account,
                "images",
                assets=tuple(merged),
                anchors=images.anchors,
                problems=images.problems,
                pages=images.pages,
                duration_seconds=images.duration_seconds,
                truncated=images.truncated,
            )
        return results
    finally:
        await reap(prefetch.values())


def _with_actions(asset: Asset, actions: dict[str, int]) -> Asset:
    return replace(asset, actions=actions.get(asset.id))
