"""pydantic models of the vendor's JSON, parsed at the edge (docs/ivh-api.md §2, §4).

The models are lenient exactly where the vendor is sloppy (docs/ivh-api.md §6):
numbers may arrive as strings, type-specific details as arrays, documented
"required" fields may be missing, field names may carry the PDF's stray space,
and unknown fields are ignored. They are strict where a wrong value would
mislead: a record without its key, or with a date we cannot read, is rejected
*on its own* by :func:`parse_records` and reported, never its page.
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

__all__ = [
    "Action",
    "AnchorRecord",
    "Detail",
    "ImageAsset",
    "RecordProblem",
    "ServiceAsset",
    "SmallSampleImage",
    "TimbreAsset",
    "parse_records",
]

_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d")
#: ISO 8601 beyond the vendor's own format: fractional seconds and/or a UTC offset
#: (``Z``, ``+08:00``, ``+0800``); unambiguous, so read rather than skipped
_ISO_DATE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    r"(?:(Z)|([+-])(\d{2}):?(\d{2}))?",
    re.ASCII | re.IGNORECASE,
)
#: a database's zero date, which no calendar holds: read as the earliest date, a
#: placeholder that ``derive`` treats as "expiry unknown" (docs/dates.md)
#: ``yyyy-MM-dd HH:mm:ss`` exactly, ASCII digits (the first of ``_DATE_FORMATS``)
_VENDOR_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_ZERO_DATE = re.compile(r"0000-00-00(?:[ T]00:00:00)?")


def _iso_date(text: str) -> datetime | None:
    """An ISO 8601 date-time with fraction or offset: naive without an offset, aware
    (the instant it names) with one; ``None`` when it is no such text or no date."""
    match = _ISO_DATE.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, utc, sign, off_h, off_m = match.groups()
    zone: tzinfo | None = None
    if utc:
        zone = UTC
    elif sign:
        if int(off_h) > 23 or int(off_m) > 59:
            return None
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        zone = timezone(-offset if sign == "-" else offset)
    micro = int((fraction or "0").ljust(6, "0")[:6])
    try:
        return datetime(  # naive exactly when the text names no offset
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, zone
        )
    except ValueError:  # 2030-02-30, 25:00:00
        return None


#: dates read, by their text: an account's records share few dates (a purchase's
#: packages expire together; a fleet of 10k records holds some 800), and a datetime
#: is immutable, so each text is read once (least recently used ones dropped past this)
_DATES_MAX = 4096


def _vendor_date(value: object) -> datetime | None:
    """``yyyy-MM-dd HH:mm:ss`` without zone (§5); empty or absent means none.

    Also ISO 8601 with fractional seconds and/or an offset: an offset makes the
    datetime aware (``derive`` keeps its instant; the account's zone applies only to
    zone-less dates)."""
    if value is None:
        return None
    if type(value) is str:
        return _text_date(value)
    return _read_date(value)


@functools.lru_cache(maxsize=_DATES_MAX)
def _text_date(text: str) -> datetime | None:
    return _read_date(text)


def _read_date(value: object) -> datetime | None:
    """:func:`_vendor_date` without its memory."""
    if not isinstance(value, str):
        # pydantic turns ValueError (not TypeError) into a validation error
        raise ValueError(  # noqa: TRY004
            f"expected a 'yyyy-MM-dd HH:mm:ss' string, got {type(value).__name__}"
        )
    text = value.strip()
    if not text:
        return None
    if _ZERO_DATE.fullmatch(text):
        return datetime.min  # noqa: DTZ901 - zone-less like every vendor date (§5)
    if _VENDOR_DATE.fullmatch(text):
        # the vendor's own format, read without strptime (a few times faster); what
        # strptime would make of it, and an impossible date falls through to it
        with contextlib.suppress(ValueError):
            return datetime(  # noqa: DTZ001 - the zone is applied in derive
                int(text[0:4]),
                int(text[5:7]),
                int(text[8:10]),
                int(text[11:13]),
                int(text[14:16]),
                int(text[17:19]),
            )
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)  # noqa: DTZ007 - the zone is applied in derive
        except ValueError:
            continue
    if (iso := _iso_date(text)) is not None:
        return iso
    # The value itself stays out of the message: problem reasons never echo input.
    raise ValueError(f"unreadable date ({len(text)} characters), expected 'yyyy-MM-dd HH:mm:ss'")


_DECIMAL = re.compile(r"[+-]?[0-9]{1,20}(?:\.[0-9]{1,30})?", re.ASCII)


def _vendor_int(value: object) -> object:
    """A figure: an integer, or a number or numeric string with a fraction (fractional
    milliseconds), rounded half to even. Never a boolean (pydantic's lax mode would
    read ``true`` as 1), never NaN or an infinity; the int64 range is checked after."""
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")  # noqa: TRY004 - see _vendor_date
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("expected a finite number")
        return round(value)
    if isinstance(value, str):
        text = value.strip()
        if not _DECIMAL.fullmatch(text):
            raise ValueError(f"expected a number ({len(text)} characters)")
        return round(Decimal(text))
    return value


def _one_object(value: object) -> object:
    """§4.1: the tables document details as arrays, the example shows objects."""
    if isinstance(value, list):
        objects = [v for v in value if isinstance(v, dict)]
        return objects[0] if objects else None
    return value


def _string_list(value: object) -> object:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return value


def _lenient_date(value: object) -> datetime | None:
    """A date that only informs (a start of validity): unreadable is none, never a
    reason to skip the record that carries it."""
    try:
        return _vendor_date(value)
    except ValueError:
        return None


VendorDate = Annotated[datetime | None, BeforeValidator(_vendor_date)]
InformativeDate = Annotated[datetime | None, BeforeValidator(_lenient_date)]
StrList = Annotated[list[str], BeforeValidator(_string_list)]
#: The vendor's integers are int64 (§4.4); a bigger one is garbage, and would
#: overflow the float conversions of ``derive`` (ms / 1000.0). A fraction (fractional
#: milliseconds) is rounded; a boolean, NaN or infinity is no figure. (The bounds come
#: first: so pydantic checks them in its core, not in Python, on every figure.)
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1), BeforeValidator(_vendor_int)]
#: epoch ms; ``derive`` reads 0, negative and beyond-year-9999 values as placeholders
EpochMs = Int64


class _Vendor(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Detail(_Vendor):
    """Any ``…InfoDetail``: every figure optional, whatever the category (§4.1 slip).

    Negative figures are read as sent: ``derive`` clamps them and reports an anomaly
    (the record is kept, not skipped)."""

    order_ms: Int64 | None = Field(None, alias="OrderMilliseconds")
    remain_ms: Int64 | None = Field(
        None,
        validation_alias=AliasChoices("RemainMilliseconds", "RemainMillisecond s"),
    )
    customization_num: Int64 | None = Field(None, alias="CustomizationNum")
    remain_num: Int64 | None = Field(None, alias="RemainNum")
    concurrency: Int64 | None = Field(None, alias="Concurrency")


OptionalDetail = Annotated[Detail | None, BeforeValidator(_one_object)]


class ServiceAsset(_Vendor):
    """ServiceAssetInfo (getserviceasset, §4.1)."""

    service_type: str = Field(alias="ServiceType", min_length=1)
    expire_date: VendorDate = Field(None, alias="ExpireDate")
    hours: OptionalDetail = Field(None, alias="UniversalHourInfoDetail")
    quota: OptionalDetail = Field(None, alias="UniversalAssetInfoDetail")
    concurrency: OptionalDetail = Field(None, alias="UniversalConcurrencyInfoDetail")
    #: type-specific details (``BroadcastHourInfoDetail`` …), keyed by field name
    specific: dict[str, Detail] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _collect_specific(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        specific = {}
        for key, value in data.items():
            if (
                isinstance(key, str)
                and key.endswith("InfoDetail")
                and not key.startswith("Universal")
            ):
                obj = _one_object(value)
                if isinstance(obj, dict):
                    specific[key] = obj
        return {**data, "specific": specific}

    def details(self) -> Iterable[Detail]:
        """Universal details first, then the type-specific ones (§4.1: read universal)."""
        for detail in (self.hours, self.quota, self.concurrency):
            if detail is not None:
                yield detail
        yield from self.specific.values()


class TimbreAsset(_Vendor):
    """TimbreAssetDetail (describetimbre, §4.2)."""

    key: str = Field(alias="TimbreKey", min_length=1)
    name: str = Field("", alias="TimbreName")
    description: str = Field("", alias="TimbreDesc")
    expire_date: VendorDate = Field(None, alias="ExpireDate")
    audio_ms: Int64 | None = Field(None, alias="AudioDuration", ge=0)
    audio_num: Int64 | None = Field(None, alias="AudioNum", ge=0)
    purchase_type: str = Field("", alias="PurchaseType")
    timbre_type: str = Field("", alias="TimbreType")
    gender: Int64 | None = Field(None, alias="TimbreGender")
    languages: StrList = Field(default_factory=list, alias="TimbreLanguages")
    emotional_categories: StrList = Field(default_factory=list, alias="EmotionalCategories")
    virtualman_type_codes: StrList = Field(default_factory=list, alias="SupportVirtualmanTypeCodes")


class AnchorRecord(_Vendor):
    """Virtualman (getanchor, §4.3): a group of images; it has no expiry."""

    code: str = Field(alias="AnchorCode", min_length=1)
    name: str = Field("", alias="AnchorName")
    virtualman_type: str = Field("", alias="VirtualmanType")
    virtualman_type_code: str = Field(
        "", validation_alias=AliasChoices("VirtualmanTypeCode", "VirtualmanType Code")
    )
    purchase_type: str = Field("", alias="PurchaseType")
    tag: str = Field("", alias="Tag")


class _ImageBase(_Vendor):
    key: str = Field(alias="VirtualmanKey", min_length=1)
    anchor_code: str = Field("", alias="AnchorCode")
    anchor_name: str = Field("", alias="AnchorName")
    clothes_name: str = Field("", alias="ClothesName")
    pose_name: str = Field("", alias="PoseName")
    resolution: str = Field("", alias="Resolution")
    expire_date: VendorDate = Field(None, alias="ExpireDate")
    video_ms: Int64 | None = Field(None, alias="VideoDuration", ge=0)
    video_num: Int64 | None = Field(None, alias="VideoNum", ge=0)
    background_changeable: bool | None = Field(None, alias="BackgroundChangeable")

    @property
    def display_name(self) -> str:
        parts = [p for p in (self.anchor_name, self.clothes_name, self.pose_name) if p]
        # AnchorName often already holds clothes and pose ("微澜-粉短裙套装-全身站姿")
        if len(parts) > 1 and all(p in parts[0] for p in parts[1:]):
            return parts[0]
        return " / ".join(parts) or self.key


class ImageAsset(_ImageBase):
    """ImageAssetDetail (getimagebyanchor, §4.4)."""

    virtualman_type: str = Field("", alias="VirtualmanType")
    virtualman_type_code: str = Field(
        "", validation_alias=AliasChoices("VirtualmanTypeCode", "VirtualmanType Code")
    )
    purchase_type: str = Field("", alias="PurchaseType")
    origin_zoom: float | None = Field(None, alias="OriginZoom")


class SmallSampleImage(_ImageBase):
    """SmallSampleImage (describesmallsampleimage, §4.5)."""

    #: not documented for §4.5; read when a record carries it (else small_sample_lite_2d)
    virtualman_type_code: str = Field(
        "", validation_alias=AliasChoices("VirtualmanTypeCode", "VirtualmanType Code")
    )
    #: epoch milliseconds: unambiguous, preferred over ``ExpireDate`` (§4.5)
    expire_time_ms: EpochMs | None = Field(None, alias="ExpireTime")
    #: start of validity: epoch ms preferred, the string as for ExpireDate (§4.5)
    effective_time_ms: EpochMs | None = Field(None, alias="EffectiveTime")
    effective_date: InformativeDate = Field(None, alias="EffectiveDate")


class Action(_Vendor):
    """Action of a 3D image (getaction, §4.6)."""

    code: str = Field(alias="ActionCode", min_length=1)
    name: str = Field("", alias="ActionName")


@dataclass(frozen=True, slots=True)
class RecordProblem:
    """One record that could not be read; the rest of its page was kept."""

    index: int
    key: str | None
    reason: str


M = TypeVar("M", bound=_Vendor)

_KEY_FIELDS = ("VirtualmanKey", "TimbreKey", "AnchorCode", "ServiceType", "ActionCode")


def _record_key(item: dict[Any, Any]) -> str | None:
    """The record's key field, truncated, to identify it in a problem report."""
    for name in _KEY_FIELDS:
        value = item.get(name)
        if isinstance(value, str) and value:
            return value[:64]
        # str() of a huge int raises (int_max_str_digits); other types say nothing useful
        if isinstance(value, int) and not isinstance(value, bool) and 0 < abs(value) < 10**64:
            return str(value)
    return None


def _summarise(exc: ValidationError) -> str:
    # Field locations and messages only: never echo the input values back.
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}"
        for err in exc.errors(include_url=False, include_input=False)
    )


_PAGE_ADAPTERS: dict[type[_Vendor], TypeAdapter[list[Any]]] = {}


def _page_of(model: type[M]) -> TypeAdapter[list[M]]:
    """The validator of a whole page of ``model`` records (one per model, made once)."""
    adapter = _PAGE_ADAPTERS.get(model)
    if adapter is None:
        adapter = _PAGE_ADAPTERS[model] = TypeAdapter(list[model])  # type: ignore[valid-type]
    return adapter


def parse_records(
    raw: object, model: type[M], *, offset: int = 0
) -> tuple[list[M], list[RecordProblem]]:
    """Validate each record of a page on its own (docs/ivh-api.md §6)."""
    if raw is None:
        return [], []
    items: Sequence[object]
    if isinstance(raw, list):
        items = raw
    elif isinstance(raw, dict):  # a single record where a list belongs
        items = [raw]
    else:
        return [], [RecordProblem(offset, None, f"expected a list, got {type(raw).__name__}")]
    if items is raw:
        # The usual page, every record good: validated in one call. A bad record fails
        # it, and then each record is validated on its own below (what is kept and
        # reported is the same either way; a bad page costs its good records twice).
        try:
            return _page_of(model).validate_python(raw), []
        except ValidationError:
            pass
    good: list[M] = []
    problems: list[RecordProblem] = []
    for i, item in enumerate(items):
        try:
            good.append(model.model_validate(item))
        except ValidationError as exc:
            # the key only for a problem report: looked up for the rare bad record alone
            key = _record_key(item) if isinstance(item, dict) else None
            problems.append(RecordProblem(offset + i, key, _summarise(exc)))
    return good, problems
