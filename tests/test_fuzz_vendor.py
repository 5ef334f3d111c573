"""Hostile input for the record parsers and the derivations over them (issue 6).

Property-based: arbitrary JSON and mutations of the vendor's documented records
(docs/ivh-api.md §4, §6) never raise, every item is either a record or a counted
problem, and problem reasons never echo the values they could not read.
"""

from __future__ import annotations

import copy
import itertools
import math
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import example, given
from hypothesis import strategies as st

from monitor.derive import (
    anchors_to_groups,
    images_to_assets,
    merge_images,
    number_services,
    service_packages,
    services_to_assets,
    small_sample_assets,
    timbres_to_assets,
)
from monitor.domain import Asset
from monitor.vendor import (
    AnchorRecord,
    ImageAsset,
    ServiceAsset,
    SmallSampleImage,
    TimbreAsset,
    _Vendor,
    parse_records,
)
from tests.strategies import (
    EXAMPLES,
    FUZZ,
    MARK,
    MODELS,
    json_values,
    known_names,
    marked_text,
    pages_of,
)

ZONES = [ZoneInfo(z) for z in ("Asia/Shanghai", "UTC", "Pacific/Kiritimati", "Etc/GMT+12")]


# -- parse_records -----------------------------------------------------------------------


def _check_accounting(raw: object, model: type[_Vendor], offset: int) -> None:
    records, problems = parse_records(raw, model, offset=offset)
    assert all(isinstance(r, model) for r in records)
    if raw is None:
        assert (records, problems) == ([], [])
        return
    n = len(raw) if isinstance(raw, list) else 1
    # every item is either a record or a counted problem
    assert len(records) + len(problems) == n
    indices = [p.index for p in problems]
    assert indices == sorted(set(indices))
    assert all(offset <= i < offset + n for i in indices)
    for p in problems:
        assert p.reason
        assert p.key is None or (isinstance(p.key, str) and len(p.key) <= 64)


@FUZZ
@given(raw=json_values, model=st.sampled_from(MODELS), offset=st.integers(0, 10**6))
def test_arbitrary_json_never_raises_and_every_item_is_accounted_for(
    raw: object, model: type[_Vendor], offset: int
) -> None:
    _check_accounting(raw, model, offset)


@FUZZ
@given(data=st.data(), model=st.sampled_from(MODELS), offset=st.integers(0, 1000))
def test_mutated_vendor_records_are_parsed_or_reported_without_echoing_values(
    data: st.DataObject, model: type[_Vendor], offset: int
) -> None:
    raw = data.draw(pages_of(model))
    _check_accounting(raw, model, offset)
    _, problems = parse_records(raw, model, offset=offset)
    for p in problems:
        # key fields are shown (truncated) in .key on purpose; reasons never show values
        assert MARK not in p.reason, p


DETAIL_KEYS = st.sampled_from(["OrderMilliseconds", "Concurrency", "x"])
marked = st.recursive(
    marked_text | marked_text.map(lambda t: f"2024-01-01 {t}"),
    lambda inner: (
        st.lists(inner, min_size=1, max_size=2) | st.dictionaries(DETAIL_KEYS, inner, min_size=1)
    ),
    max_leaves=3,
)


ALL_NAMES = sorted(set().union(*(known_names(m) for m in MODELS)) | {"XInfoDetail"})


@FUZZ
@given(
    model=st.sampled_from(MODELS),
    values=st.dictionaries(st.sampled_from(ALL_NAMES), marked, min_size=1, max_size=12),
)
@example(model=TimbreAsset, values={"ExpireDate": f"2024-01-01 {MARK}"})  # was echoed
def test_reasons_never_echo_a_value_whatever_the_field(
    model: type[_Vendor], values: dict[str, Any]
) -> None:
    for record in EXAMPLES[model]:
        _, problems = parse_records([{**record, **values}], model)
        for p in problems:
            assert MARK not in p.reason, p


@FUZZ
@given(
    model=st.sampled_from(MODELS),
    extra=st.dictionaries(st.text(max_size=16), json_values, max_size=5),
    data=st.data(),
)
def test_unknown_fields_leave_valid_records_unchanged(
    model: type[_Vendor], extra: dict[str, Any], data: st.DataObject
) -> None:
    record = data.draw(st.sampled_from(EXAMPLES[model]))
    names = known_names(model)
    # ServiceAsset reads every "...InfoDetail" (§4.1): those are not unrelated
    unrelated = {k: v for k, v in extra.items() if k not in names and not k.endswith("InfoDetail")}
    [plain], none = parse_records([record], model)
    [with_extra], still_none = parse_records([{**record, **unrelated}], model)
    assert none == still_none == []
    assert with_extra == plain


@FUZZ
@given(
    key=st.one_of(
        st.text(max_size=200),
        st.integers(min_value=-(10**5000), max_value=10**5000),  # str() of these raises
        json_values,
    ),
    model=st.sampled_from(MODELS),
)
def test_problem_keys_are_bounded_whatever_the_key_field_holds(
    key: object, model: type[_Vendor]
) -> None:
    raw = [{name: key, "ExpireDate": f"x{MARK}"} for name in ("VirtualmanKey", "TimbreKey")]
    raw += [{"AnchorCode": key, "ServiceType": key, "ActionCode": [key]}]
    _check_accounting(raw, model, 0)


# -- derive over whatever parse_records accepted -------------------------------------------


def _check_assets(assets: list[Asset]) -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    ids = [(a.kind, a.id) for a in assets]
    assert len(ids) == len(set(ids)), "ids are unique per kind"
    for a in assets:
        if a.expires_at is not None:
            assert a.expires_at.utcoffset() is not None, "expiry is aware"
            assert math.isfinite(a.expires_at.timestamp())
            assert a.expires_in_seconds(now) is not None
        for seconds in (a.ordered_seconds, a.audio_seconds, a.video_seconds):
            assert seconds is None or (math.isfinite(seconds) and seconds >= 0)
        assert a.remaining_seconds is None or math.isfinite(a.remaining_seconds)


@FUZZ
@given(
    pages=st.fixed_dictionaries(
        {
            m: pages_of(m)
            for m in (ServiceAsset, TimbreAsset, ImageAsset, SmallSampleImage, AnchorRecord)
        }
    ),
    zone=st.sampled_from(ZONES),
    actions=st.dictionaries(st.text(max_size=40), st.integers(0, 10**6), max_size=3),
)
def test_derive_never_raises_on_what_the_parsers_accept(
    pages: dict[type[_Vendor], list[Any]], zone: ZoneInfo, actions: dict[str, int]
) -> None:
    # the same package twice: ids must still be unique (suffixed)
    svc, _ = parse_records(pages[ServiceAsset] * 2, ServiceAsset)
    tim, _ = parse_records(pages[TimbreAsset] * 2, TimbreAsset)
    img, _ = parse_records(pages[ImageAsset], ImageAsset)
    # one key in both lists is one image (§4.5)
    sml, _ = parse_records(pages[SmallSampleImage] + pages[ImageAsset], SmallSampleImage)
    anc, _ = parse_records(pages[AnchorRecord], AnchorRecord)
    image_assets = images_to_assets("acct", zone, img, sml, actions)
    for assets in (
        services_to_assets("acct", zone, svc),
        services_to_assets("acct", zone, svc, language="zh"),
        timbres_to_assets("acct", zone, tim),
        image_assets,
    ):
        _check_assets(assets)
    groups = anchors_to_groups("acct", anc, image_assets)
    assert len({g.code for g in groups}) == len(groups)


def _split(records: list[Any], cuts: list[int]) -> list[list[Any]]:
    """``records`` as consecutive pages, cut at ``cuts`` (positions, any order)."""
    edges = sorted({0, len(records), *(c % (len(records) + 1) for c in cuts)})
    return [records[a:b] for a, b in itertools.pairwise(edges)]


@FUZZ
@given(
    pages=st.fixed_dictionaries(
        {m: pages_of(m) for m in (ServiceAsset, ImageAsset, SmallSampleImage)}
    ),
    zone=st.sampled_from(ZONES),
    actions=st.dictionaries(st.text(max_size=40), st.integers(0, 10**6), max_size=3),
    cuts=st.lists(st.integers(0, 30), max_size=4),
)
def test_derived_page_by_page_is_derived_whole(
    pages: dict[type[_Vendor], list[Any]],
    zone: ZoneInfo,
    actions: dict[str, int],
    cuts: list[int],
) -> None:
    """The collection boils each page down as it arrives (services, images): the
    result must be what deriving the whole listing at once gives."""
    svc, _ = parse_records(pages[ServiceAsset] * 2, ServiceAsset)  # twins: -2 ids
    images = [r for r in pages[ImageAsset] if isinstance(r, dict)]
    # a key again, changed: the last copy wins
    again = [{**r, "AnchorName": f"again {i}", "VideoNum": i} for i, r in enumerate(images)]
    img, _ = parse_records(images + again, ImageAsset)
    # keys in both lists, every other one with an exact ExpireTime (which wins)
    both = [
        {**r, "ExpireTime": 1_900_000_000_000 + i} if i % 2 else {**r, "VideoDuration": 10**7}
        for i, r in enumerate(images[::-1])
    ]
    sml, _ = parse_records(pages[SmallSampleImage] + both, SmallSampleImage)
    packages = [p for page in _split(svc, cuts) for p in service_packages("a", zone, page)]
    assert number_services(packages) == services_to_assets("a", zone, svc)
    merged = merge_images(
        (a for page in _split(img, cuts) for a in images_to_assets("a", zone, page, [], actions)),
        (s for page in _split(sml, cuts[::-1]) for s in small_sample_assets("a", zone, page)),
    )
    assert merged == images_to_assets("a", zone, img, sml, actions)


absurd_numbers = (
    st.integers(min_value=-(10**30), max_value=10**400)
    | st.sampled_from([2**63 - 1, 2**63, 10**15, 253_402_300_800_000, -1, 0])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(min_value=0, max_value=10**40).map(str)
)
NUMERIC_FIELDS = [
    "OrderMilliseconds",
    "RemainMilliseconds",
    "CustomizationNum",
    "RemainNum",
    "Concurrency",
    "AudioDuration",
    "AudioNum",
    "TimbreGender",
    "VideoDuration",
    "VideoNum",
    "ExpireTime",
    "EffectiveTime",
]


@st.composite
def absurd_record(draw: st.DrawFn, model: type[_Vendor]) -> dict[str, Any]:
    record: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(EXAMPLES[model])))
    numbers = st.fixed_dictionaries({}, optional=dict.fromkeys(NUMERIC_FIELDS, absurd_numbers))
    record |= draw(numbers)
    for name in ("UniversalHourInfoDetail", "UniversalAssetInfoDetail", "BroadcastHourInfoDetail"):
        if name in record or draw(st.booleans()):
            record[name] = draw(numbers)
    return record


@FUZZ
@given(
    services=st.lists(absurd_record(ServiceAsset), max_size=4),
    timbres=st.lists(absurd_record(TimbreAsset), max_size=4),
    images=st.lists(absurd_record(ImageAsset), max_size=4),
    small=st.lists(absurd_record(SmallSampleImage), max_size=4),
    zone=st.sampled_from(ZONES),
)
@example(  # an ExpireTime past year 9999 raised ValueError from fromtimestamp
    services=[
        {"ServiceType": "BroadcastHour", "UniversalHourInfoDetail": {"OrderMilliseconds": 10**400}}
    ],
    timbres=[{"TimbreKey": "k", "AudioDuration": 10**400}],
    images=[],
    small=[{"VirtualmanKey": "k", "ExpireTime": 10**15}],
    zone=ZoneInfo("Asia/Shanghai"),
)
def test_absurd_numbers_are_rejected_per_record_not_by_derive(
    services: list[Any], timbres: list[Any], images: list[Any], small: list[Any], zone: ZoneInfo
) -> None:
    for raw, model in ((services, ServiceAsset), (timbres, TimbreAsset), (small, SmallSampleImage)):
        _check_accounting(raw, model, 0)
    svc, _ = parse_records(services, ServiceAsset)
    tim, _ = parse_records(timbres, TimbreAsset)
    img, _ = parse_records(images, ImageAsset)
    sml, _ = parse_records(small, SmallSampleImage)
    _check_assets(services_to_assets("acct", zone, svc))
    _check_assets(timbres_to_assets("acct", zone, tim))
    _check_assets(images_to_assets("acct", zone, img, sml))
