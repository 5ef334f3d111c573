"""The snapshot keeps one object per unchanged asset across collections."""

from __future__ import annotations

from datetime import UTC, timedelta

from monitor.domain import Anchor, Asset, FamilyResult
from monitor.serialise import asset_record
from tests.alerting import SHANGHAI, T0, service, snapshot_store


def _image(key: str, *, type_code: str = "vip_3d", anchor: str = "a1") -> Asset:
    return Asset(
        account="acme",
        kind="image",
        id=key,
        type=type_code,
        name=f"image {key}",
        expires_at=(T0 + timedelta(days=30)).astimezone(SHANGHAI),
        anchor=anchor,
    )


def test_an_unchanged_collection_keeps_the_objects_a_changed_asset_is_the_new_one() -> None:
    store = snapshot_store()
    first = (service("BroadcastHour-1"), service("BroadcastHour-2", remaining_h=400))
    store.apply(FamilyResult("acme", "services", assets=first), T0)
    again = (service("BroadcastHour-1"), service("BroadcastHour-2", remaining_h=300))
    store.apply(FamilyResult("acme", "services", assets=again), T0 + timedelta(minutes=5))

    shown = store.current.family_assets("acme", "services", T0 + timedelta(minutes=5))
    assert shown[0] is first[0]  # the same asset: the old object, the new copy let go
    assert shown[1] is again[1]  # a changed figure: the new record
    assert shown[1].remaining_seconds == 300 * 3600


def test_the_same_instant_in_another_zone_is_shown_in_the_new_zone() -> None:
    # a reload that moves an account to another zone: equal dates, shown apart
    store = snapshot_store()
    expires = T0 + timedelta(days=100)
    in_shanghai = service("BroadcastHour-1").replaced(expires_at=expires.astimezone(SHANGHAI))
    in_utc = in_shanghai.replaced(expires_at=expires.astimezone(UTC))
    assert in_shanghai == in_utc
    store.apply(FamilyResult("acme", "services", assets=(in_shanghai,)), T0)
    store.apply(FamilyResult("acme", "services", assets=(in_utc,)), T0 + timedelta(minutes=5))

    now = T0 + timedelta(minutes=5)
    (shown,) = store.current.family_assets("acme", "services", now)
    assert asset_record(shown, now)["expires_at"].endswith("+00:00")


def test_images_with_actions_keep_their_copies_and_follow_a_new_count() -> None:
    store = snapshot_store()
    at = T0
    images = (_image("v1"), _image("v2", type_code="vip_2d"))
    anchors = (Anchor("acme", "a1", "Anchor", "vip_3d", None, ("v1", "v2")),)
    store.apply(FamilyResult("acme", "images", assets=images, anchors=anchors), at)
    store.apply(FamilyResult("acme", "actions", actions={"v1": 3}), at)
    before = store.current.family_assets("acme", "images", at)
    assert [a.actions for a in before] == [3, None]

    at += timedelta(minutes=30)
    same = (_image("v1"), _image("v2", type_code="vip_2d"))
    new_anchors = (Anchor("acme", "a1", "Anchor", "vip_3d", None, ("v1", "v2")),)
    store.apply(FamilyResult("acme", "images", assets=same, anchors=new_anchors), at)
    store.apply(FamilyResult("acme", "actions", actions={"v1": 3}), at)
    after = store.current.family_assets("acme", "images", at)
    assert after[0] is before[0]
    assert after[1] is before[1]
    assert store.current.anchors(at)[0] is anchors[0]

    at += timedelta(minutes=30)
    store.apply(FamilyResult("acme", "actions", actions={"v1": 4}), at)
    assert [a.actions for a in store.current.family_assets("acme", "images", at)] == [4, None]
