"""One collection of an account's assets, family by family.

A *family* is what one scheduled job refreshes: ``services``, ``timbres``,
``images`` (with anchors) and ``actions`` (of 3D images). A family either
succeeds as a whole (every page of every list it walks) or fails with the
error that stopped it; a record that cannot be read is skipped and reported as
a problem of a family that still succeeds (REFERENCE.md §6).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import structlog

from monitor.client import IVHClient, Listing
from monitor.derive import (
    anchors_to_groups,
    images_to_assets,
    is_3d,
    services_to_assets,
    timbres_to_assets,
)
from monitor.domain import Anchor, Asset
from monitor.errors import UpstreamError
from monitor.models import Anchor as AnchorRecord
from monitor.models import ImageAsset, RecordProblem, SmallSampleImage

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


async def _services(client: IVHClient, tally: _Tally) -> dict[str, Any]:
    listing = await client.service_assets()
    tally.add("getserviceasset", listing)
    acct = client.account
    return {"assets": tuple(services_to_assets(acct.name, acct.zone, listing.records))}


async def _timbres(client: IVHClient, tally: _Tally) -> dict[str, Any]:
    listing = await client.timbres()
    tally.add("describetimbre", listing)
    acct = client.account
    return {"assets": tuple(timbres_to_assets(acct.name, acct.zone, listing.records))}


async def _images(
    client: IVHClient, tally: _Tally, type_codes: Sequence[str], actions: dict[str, int]
) -> dict[str, Any]:
    # REFERENCE.md §4: getanchor/getimagebyanchor need a type code, so listing
    # every image takes one walk per code, plus the small-sample list.
    anchor_lists, image_lists, small = await asyncio.gather(
        asyncio.gather(*(client.anchors(code) for code in type_codes)),
        asyncio.gather(*(client.images(code) for code in type_codes)),
        client.small_sample_images(),
    )
    anchors_raw: list[AnchorRecord] = []
    images_raw: list[ImageAsset] = []
    for anchor_listing in anchor_lists:
        tally.add("getanchor", anchor_listing)
        anchors_raw.extend(anchor_listing.records)
    for image_listing in image_lists:
        tally.add("getimagebyanchor", image_listing)
        images_raw.extend(image_listing.records)
    tally.add("describesmallsampleimage", small)
    small_raw: list[SmallSampleImage] = small.records
    acct = client.account
    assets = images_to_assets(acct.name, acct.zone, images_raw, small_raw, actions)
    anchors = anchors_to_groups(acct.name, anchors_raw, assets)
    return {"assets": tuple(assets), "anchors": tuple(anchors)}


async def _actions(client: IVHClient, tally: _Tally, keys: Sequence[str]) -> dict[str, Any]:
    listings = await asyncio.gather(*(client.actions(k) for k in keys))
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
    actions: dict[str, int] | None = None,
) -> FamilyResult:
    """Collect one family; never raises for an upstream failure (it is in ``error``).

    ``image_keys`` are the 3D images whose actions to fetch (the ``actions``
    family); ``actions`` are counts already known, attached to 3D images.
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
            parts = await _images(client, tally, type_codes, dict(actions or {}))
        else:
            parts = await _actions(client, tally, image_keys)
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


async def collect_account(
    client: IVHClient,
    type_codes: Sequence[str],
    *,
    on_family_done: Callable[[FamilyResult], None] | None = None,
) -> list[FamilyResult]:
    """Every family of one account: services, voices and images concurrently, then
    the actions of its 3D images."""

    async def run(family: Family) -> FamilyResult:
        result = await collect_family(client, family, type_codes=type_codes)
        if on_family_done is not None:
            on_family_done(result)
        return result

    services, timbres, images = await asyncio.gather(run("services"), run("timbres"), run("images"))
    results = [services, timbres, images]
    if images.ok:
        keys = [a.id for a in images.assets if is_3d(a.type)]
        actions = await collect_family(client, "actions", image_keys=keys)
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


def _with_actions(asset: Asset, actions: dict[str, int]) -> Asset:
    return replace(asset, actions=actions.get(asset.id))
