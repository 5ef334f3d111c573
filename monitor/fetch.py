"""One collection of an account's assets, family by family.

A *family* is what one scheduled job refreshes: ``services``, ``timbres``,
``images`` (with anchors) and ``actions`` (of 3D images). A family either
succeeds as a whole (every page of every list it walks) or fails with the
error that stopped it; a record that cannot be read is skipped and reported as
a problem of a family that still succeeds (docs/ivh-api.md §6).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import structlog

from monitor.aio import Throttled, all_or_cancel, reap
from monitor.client import IVHClient, Listing
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
from monitor.domain import FAMILIES, Asset, Family, FamilyResult, Problem
from monitor.errors import DeadlineError, IncompleteListingError, UpstreamError
from monitor.vendor import (
    Action,
    AnchorRecord,
    RecordProblem,
)

__all__ = ["collect_account", "collect_family"]

log = structlog.get_logger("monitor.fetch")

T = TypeVar("T")


class _Tally:
    def __init__(self) -> None:
        self.pages = 0
        self.problems: list[Problem] = []
        self.incomplete: list[IncompleteListingError] = []

    def add(self, endpoint: str, listing: Listing[Any]) -> None:
        self.pages += listing.pages
        self.problems.extend(_problems(endpoint, listing.problems))

    async def whole(self, walk: Awaitable[Listing[T]]) -> Listing[T]:
        """The listing, or what arrived of it when it was incomplete (noted here): the
        family goes on with its other listings and fails at the end."""
        try:
            return await walk
        except IncompleteListingError as exc:
            self.incomplete.append(exc)
            partial: Listing[T] = exc.partial  # type: ignore[assignment]
            return partial


def _problems(endpoint: str, problems: Sequence[RecordProblem]) -> list[Problem]:
    return [Problem(endpoint, p.index, p.key, p.reason) for p in problems]


# Pages are boiled down to assets as they arrive (a walk's ``boil``), so a listing is
# never held whole as vendor models (several times an asset's memory), and come back
# in page order, so that ids (services) and the copy that wins (voices, images) never
# depend on which page came back first.


async def _services(client: IVHClient, tally: _Tally) -> dict[str, Any]:
    acct = client.account
    listing: Listing[ServicePackage] = await tally.whole(
        client.service_assets(lambda page: service_packages(acct.name, acct.zone, page))
    )
    tally.add("getserviceasset", listing)
    return {"assets": tuple(number_services(listing.records))}


async def _timbres(client: IVHClient, tally: _Tally) -> dict[str, Any]:
    acct = client.account
    listing: Listing[Asset] = await tally.whole(
        client.timbres(lambda page: timbres_to_assets(acct.name, acct.zone, page))
    )
    tally.add("describetimbre", listing)
    by_key = {a.id: a for a in listing.records}  # TimbreKey is unique: the last copy wins (§4.2)
    return {"assets": tuple(by_key.values())}


async def _images(
    client: IVHClient,
    tally: _Tally,
    type_codes: Sequence[str],
    on_3d_keys: Callable[[list[str]], None] | None = None,
) -> dict[str, Any]:
    # docs/ivh-api.md §4: getanchor/getimagebyanchor need a type code, so listing
    # every image takes one walk per code, plus the small-sample list.
    acct = client.account

    async def images(code: str) -> Listing[Asset]:
        listing: Listing[Asset] = await tally.whole(
            client.images(
                code,
                lambda page: images_to_assets(acct.name, acct.zone, page, [], listed_as=code),
            )
        )
        if on_3d_keys is not None:
            on_3d_keys([a.id for a in listing.records if is_3d(a.type)])
        return listing

    # Requests queue for the account's slots in the order they are made: the 3D
    # image walks first, so the actions they lead to start while the rest runs.
    order = sorted(range(len(type_codes)), key=lambda i: not is_3d(type_codes[i]))
    image_tasks = {i: asyncio.ensure_future(images(type_codes[i])) for i in order}
    anchor_tasks = [asyncio.ensure_future(tally.whole(client.anchors(c))) for c in type_codes]
    small_task: asyncio.Future[Listing[SmallSample]] = asyncio.ensure_future(
        tally.whole(
            client.small_sample_images(lambda page: small_sample_assets(acct.name, acct.zone, page))
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
    image_assets: list[Asset] = []
    for i in range(len(type_codes)):  # in type-code order, as the problems are reported
        tally.add("getimagebyanchor", image_tasks[i].result())
        image_assets.extend(image_tasks[i].result().records)
    tally.add("describesmallsampleimage", small_task.result())
    assets = merge_images(image_assets, small_task.result().records)
    anchors = anchors_to_groups(acct.name, anchors_raw, assets)
    return {"assets": tuple(assets), "anchors": tuple(anchors)}


async def _actions(
    client: IVHClient,
    tally: _Tally,
    keys: Sequence[str],
    started: Throttled[str, Listing[Action]] | None,
) -> dict[str, Any]:
    # one fetch per image, at most the account's slots of them at once (a key
    # waiting its turn holds no coroutines: see Throttled)
    fetches = Throttled(client.actions, client.concurrency) if started is None else started
    try:
        fetches.start(keys)  # the keys not started already
        listings = await all_or_cancel(fetches.futures[k] for k in keys)
    finally:
        if started is None:
            await fetches.aclose()
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
    started_actions: Throttled[str, Listing[Action]] | None = None,
    deadline: float | None = None,
) -> FamilyResult:
    """Collect one family; never raises for an upstream failure (it is in ``error``).

    ``image_keys`` are the 3D images whose actions to fetch (the ``actions``
    family), ``started_actions`` fetches of them already under way;
    ``on_3d_keys`` hears the 3D image keys of each type code as its walk ends.
    Past ``deadline`` seconds the collection is cancelled and fails
    (:class:`~monitor.errors.DeadlineError`).
    """
    tally = _Tally()
    started = time.perf_counter()
    account = client.account.name
    try:
        async with asyncio.timeout(deadline):  # past it: cancelled, then TimeoutError
            parts = await _family(
                client,
                family,
                tally,
                type_codes=type_codes,
                image_keys=image_keys,
                on_3d_keys=on_3d_keys,
                started_actions=started_actions,
            )
    except (UpstreamError, TimeoutError) as exc:
        error = exc if isinstance(exc, UpstreamError) else _past_deadline(account, family, deadline)
        duration = time.perf_counter() - started
        # An expected upstream failure, already typed: no traceback needed.
        log.error(  # noqa: TRY400
            "collect.failed",
            family=family,
            duration_s=round(duration, 3),
            pages=tally.pages,
            **error.log_fields(),
        )
        return FamilyResult(
            account, family, error=error, pages=tally.pages, duration_seconds=duration
        )
    duration = time.perf_counter() - started
    result = FamilyResult(
        account,
        family,
        problems=tuple(tally.problems),
        pages=tally.pages,
        duration_seconds=duration,
        error=tally.incomplete[0] if tally.incomplete else None,
        incomplete=tuple(tally.incomplete),
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
    for incomplete in tally.incomplete:
        log.error(
            "collect.failed",
            family=family,
            duration_s=round(duration, 3),
            pages=tally.pages,
            **incomplete.log_fields(),
        )
    _log_oddities(result)
    log.info(
        "collect.finished",
        account=account,
        family=family,
        assets=len(result.assets) or len(result.actions),
        pages=tally.pages,
        skipped=len(tally.problems),
        complete=not tally.incomplete,
        duration_s=round(duration, 3),
    )
    return result


async def _family(
    client: IVHClient,
    family: Family,
    tally: _Tally,
    *,
    type_codes: Sequence[str],
    image_keys: Sequence[str],
    on_3d_keys: Callable[[list[str]], None] | None,
    started_actions: Throttled[str, Listing[Action]] | None,
) -> dict[str, Any]:
    if family == "services":
        return await _services(client, tally)
    if family == "timbres":
        return await _timbres(client, tally)
    if family == "images":
        return await _images(client, tally, type_codes, on_3d_keys)
    return await _actions(client, tally, image_keys, started_actions)


def _past_deadline(account: str, family: Family, deadline: float | None) -> DeadlineError:
    return DeadlineError(
        f"collection of {family} not finished within its {deadline or 0:g} s deadline; cancelled",
        account=account,
        endpoint=family,
    )


def _log_oddities(result: FamilyResult) -> None:
    """One warning per anomaly and per asset whose expiry is unknown (docs/dates.md)."""
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
    deadlines: Mapping[Family, float] | None = None,
    families: Collection[Family] = FAMILIES,
) -> list[FamilyResult]:
    """Every family of one account (of ``families``, the ones switched on):
    services, voices and images concurrently, and the actions of each 3D image as
    soon as the walk that found it ends (so the account's request slots never idle
    behind the whole images family). Each family fails past its entry in
    ``deadlines``."""
    deadlines = deadlines or {}
    with_actions = "actions" in families and "images" in families
    prefetch: Throttled[str, Listing[Action]] = Throttled(client.actions, client.concurrency)

    async def run(family: Family) -> FamilyResult:
        result = await collect_family(
            client,
            family,
            type_codes=type_codes,
            on_3d_keys=prefetch.start if family == "images" and with_actions else None,
            deadline=deadlines.get(family),
        )
        if family == "images" and not result.ok:
            await prefetch.aclose()  # at once: no actions for images that failed
        if on_family_done is not None:
            on_family_done(result)
        return result

    try:
        # an upstream failure is a FamilyResult, not an exception; anything else
        # (a bug) must not leave the other families running
        listed: tuple[Family, ...] = ("services", "timbres", "images")
        wanted = [f for f in listed if f in families]
        results = list(await all_or_cancel(run(f) for f in wanted))
        if not with_actions:
            return results
        at = wanted.index("images")
        images = results[at]
        if not images.ok:
            return results
        keys = [a.id for a in images.assets if is_3d(a.type)]
        actions = await collect_family(
            client,
            "actions",
            image_keys=keys,
            started_actions=prefetch,
            deadline=deadlines.get("actions"),
        )
        if on_family_done is not None:
            on_family_done(actions)
        results.append(actions)
        if actions.ok and keys:
            merged = [
                _with_actions(a, actions.actions) if is_3d(a.type) else a for a in images.assets
            ]
            results[at] = replace(images, assets=tuple(merged))
        return results
    finally:
        await prefetch.aclose()


def _with_actions(asset: Asset, actions: dict[str, int]) -> Asset:
    return asset.replaced(actions=actions.get(asset.id))
