"""The simulator's data: accounts holding raw, vendor-shaped asset records.

Records are plain dicts written exactly as the IVH gateway returns them (the
vendor's PascalCase field names, docs/ivh-api.md §4.1-4.6), so the simulator can
serve them verbatim, including the vendor's sloppiness (§6).

Dataset file format (YAML for ``.yaml``/``.yml``, JSON for ``.json``)::

    accounts:
      - name: xinghe-live                # unique; faults and the control API use it
        appkey: ak-xinghe-live-demo-0001 # unique
        access_token: at-...             # the HMAC key of docs/ivh-api.md §1
        gateway: gw.tvs.qq.com           # optional, informational (default shown)
        services: [ServiceAssetInfo, ...]              # getserviceasset
        timbres: [TimbreAssetDetail, ...]              # describetimbre
        anchors: [Virtualman, ...]                     # getanchor
        images: [ImageAssetDetail, ...]                # getimagebyanchor
        small_sample_images: [SmallSampleImage, ...]   # describesmallsampleimage
        actions: {VirtualmanKey: [Action, ...]}        # getaction

Every collection is optional. Date fields of a record may be written relative
to the load time: ``"+7d"``, ``"-3d"``, ``"+36h"``, ``"+90m"``, ``"+45s"``
(sign required, decimals allowed). ``ExpireDate`` and ``EffectiveDate`` render
as ``yyyy-MM-dd HH:mm:ss`` in Beijing time (UTC+8, docs/ivh-api.md §5);
``ExpireTime`` and ``EffectiveTime`` as epoch milliseconds. Anything else is
kept verbatim, blank and placeholder dates included (``""``, ``"0001-01-01
00:00:00"``, ``"9999-12-31 23:59:59"``, an ``ExpireTime`` of 0 or below): an
empty ``ExpireDate`` means "never expires" for a voice (§4.2) but "unknown" for
a service package or an image, where the date is required (§4.1, §4.4).
Detail objects are served as written, hour fields on a concurrency type too
(§4.1). Unquoted YAML timestamps such as ``2024-04-05 11:31:07`` are turned
back into that text.
See ``example-dataset.yaml`` next to this module.
"""

from __future__ import annotations

import copy
import json
import random
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "BEIJING",
    "COLLECTIONS",
    "DEMO_ACCOUNTS",
    "Dataset",
    "DatasetError",
    "SimAccount",
    "default_dataset",
    "format_beijing",
    "generate_fleet",
    "load_dataset",
    "service_types",
]

Record = dict[str, Any]

# China has observed no DST since 1991, so a fixed offset is exact and needs no tzdata.
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
DOMESTIC_GATEWAY = "gw.tvs.qq.com"
INTERNATIONAL_GATEWAY = "gw-sg.tvs.qq.com"

LIST_COLLECTIONS = ("services", "timbres", "anchors", "images", "small_sample_images")
COLLECTIONS = (*LIST_COLLECTIONS, "actions")

DEMO_ACCOUNTS: list[tuple[str, str, str]] = [
    ("xinghe-live", "ak-xinghe-live-demo-0001", "at-xinghe-live-demo-secret-0001"),
    ("lanjing-studio", "ak-lanjing-studio-demo-0002", "at-lanjing-studio-demo-secret-0002"),
    ("horizon-sg", "ak-horizon-sg-demo-0003", "at-horizon-sg-demo-secret-0003"),
    ("empty-trial", "ak-empty-trial-demo-0004", "at-empty-trial-demo-secret-0004"),
]
"""Demo credentials of :func:`default_dataset`: (name, appkey, access_token).

Public demo values, fine to print; they open nothing but the simulator.
"""

_STRING_DATE_FIELDS = frozenset({"ExpireDate", "EffectiveDate"})
_EPOCH_MS_FIELDS = frozenset({"ExpireTime", "EffectiveTime"})
_RELATIVE = re.compile(r"^([+-])(\d+(?:\.\d+)?)([dhms])$")
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_MS_PER_HOUR = 3_600_000
_MEDIA = "https://cos.ivh-sim.example"


class DatasetError(ValueError):
    """A dataset file or record that cannot be used; the message names file and field."""


def format_beijing(moment: datetime) -> str:
    """Render an aware datetime the way the vendor writes dates (Beijing wall time)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware one (e.g. datetime.now(UTC))")
    wall = moment.astimezone(BEIJING).replace(tzinfo=None)
    return wall.isoformat(sep=" ", timespec="seconds")  # not strftime: "0001", not "1"


def service_types() -> list[dict[str, str]]:
    """The vendor's service-type appendix (``monitor/data/enums.json``)."""
    text = resources.files("monitor.data").joinpath("enums.json").read_text(encoding="utf-8")
    types: list[dict[str, str]] = json.loads(text)["service_types"]
    return types


def _check_now(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")


def _relative(value: str, now: datetime) -> datetime | None:
    match = _RELATIVE.match(value.strip())
    if match is None:
        return None
    sign, amount, unit = match.groups()
    seconds = float(amount) * _UNIT_SECONDS[unit] * (1 if sign == "+" else -1)
    # Whole seconds: the vendor's strings have no fraction and its ms stamps end in 000.
    return (now + timedelta(seconds=seconds)).replace(microsecond=0)


def _yaml_timestamp(key: str, value: datetime, where: str) -> str:
    """An unquoted YAML timestamp; aware ones are converted, naive ones are Beijing time.
    isoformat, not strftime: glibc's %Y writes year 1 as "1", not "0001"."""
    if not value.tzinfo:
        return value.isoformat(sep=" ", timespec="seconds")
    try:
        return format_beijing(value)
    except OverflowError:
        raise DatasetError(
            f"{where}.{key}: {value.isoformat()} is out of range in Beijing time"
        ) from None


def _render_value(key: str, value: Any, now: datetime, where: str) -> Any:
    if isinstance(value, datetime):
        return _yaml_timestamp(key, value, where)
    if isinstance(value, date):
        return value.isoformat()
    if key not in _STRING_DATE_FIELDS | _EPOCH_MS_FIELDS or not isinstance(value, str):
        return value
    if not value.strip().startswith(("+", "-")):
        return value  # absolute, kept verbatim
    moment = _relative(value, now)
    if moment is None:
        raise DatasetError(
            f"{where}.{key}: bad relative date {value!r} (expected e.g. '+7d', '-3d', '+36h', "
            "'+90m')"
        )
    if key in _STRING_DATE_FIELDS:
        return format_beijing(moment)
    return int(moment.timestamp()) * 1000


def _render_record(record: Mapping[str, Any], now: datetime, where: str) -> Record:
    return {key: _render_value(key, value, now, where) for key, value in record.items()}


def _render_list(value: Any, now: datetime, where: str) -> list[Record]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise DatasetError(f"{where}: expected a list of records, got {type(value).__name__}")
    out: list[Record] = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise DatasetError(f"{where}[{i}]: expected a record (mapping)")
        out.append(_render_record(item, now, f"{where}[{i}]"))
    return out


def _render_actions(value: Any, now: datetime, where: str) -> dict[str, list[Record]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise DatasetError(f"{where}: expected a mapping of VirtualmanKey to a list of actions")
    return {
        str(key): _render_list(actions, now, f"{where}.{key}") for key, actions in value.items()
    }


def _resolve(record: Record, dotted: str) -> tuple[Any, str] | None:
    """Return (container, last key) for a dotted path, or None when absent."""
    parts = dotted.split(".")
    node: Any = record
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if not isinstance(node, dict):
        return None
    return node, parts[-1]


def _detail_objects(record: Record) -> Iterator[dict[str, Any]]:
    """Every figures object of a ServiceAssetInfo: universal and type-specific, object or array."""
    for key, value in record.items():
        if not key.endswith("InfoDetail"):
            continue
        items = value if isinstance(value, list) else [value]
        yield from (item for item in items if isinstance(item, dict))


@dataclass(eq=False)
class SimAccount:
    """One IVH account of the simulator and its raw records.

    Mutate through the methods while a server runs: they take the account's
    lock, so a concurrent request sees either the old or the new collection,
    never a half-edited one.
    """

    name: str
    appkey: str
    access_token: str
    services: list[Record] = field(default_factory=list)
    timbres: list[Record] = field(default_factory=list)
    anchors: list[Record] = field(default_factory=list)
    images: list[Record] = field(default_factory=list)
    small_sample_images: list[Record] = field(default_factory=list)
    actions: dict[str, list[Record]] = field(default_factory=dict)
    gateway: str = DOMESTIC_GATEWAY
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _list(self, collection: str) -> list[Record]:
        if collection not in LIST_COLLECTIONS:
            raise KeyError(f"unknown record collection {collection!r}; one of {LIST_COLLECTIONS}")
        records: list[Record] = getattr(self, collection)
        return records

    def records(self, collection: str) -> list[Record]:
        """A deep copy of a list collection."""
        with self._lock:
            return copy.deepcopy(self._list(collection))

    def page(
        self,
        collection: str,
        predicate: Callable[[Record], bool],
        page_index: int,
        page_size: int,
    ) -> tuple[int, list[Record]]:
        """(Total, deep-copied records of the 1-based page) from one consistent view."""
        with self._lock:
            matching = [r for r in self._list(collection) if predicate(r)]
            start = (page_index - 1) * page_size
            return len(matching), copy.deepcopy(matching[start : start + page_size])

    def actions_for(self, virtualman_key: str) -> list[Record]:
        with self._lock:
            return copy.deepcopy(self.actions.get(virtualman_key, []))

    def replace(self, collection: str, value: Any, *, now: datetime | None = None) -> None:
        """Replace a whole collection (a list of records, or the actions mapping).

        Relative dates in the new records are rendered against ``now`` (default:
        the wall clock), as in a dataset file.
        """
        now = now or datetime.now(UTC)
        where = f"accounts[{self.name}].{collection}"
        if collection == "actions":
            rendered_actions = _render_actions(value, now, where)
            with self._lock:
                self.actions = rendered_actions
            return
        self._list(collection)  # validates the name before any work
        rendered = _render_list(value, now, where)
        with self._lock:
            setattr(self, collection, rendered)

    def remove(self, collection: str, /, **match: Any) -> int:
        """Remove the records whose top-level fields equal ``match``; return how many."""
        with self._lock:
            records = self._list(collection)
            kept = [r for r in records if not all(r.get(k) == v for k, v in match.items())]
            setattr(self, collection, kept)
            return len(records) - len(kept)

    def update(self, collection: str, changes: Mapping[str, Any], /, **match: Any) -> int:
        """Set dotted-path ``changes`` on the records matching ``match``; return how many."""
        count = 0
        with self._lock:
            for record in self._list(collection):
                if not all(record.get(k) == v for k, v in match.items()):
                    continue
                count += 1
                for dotted, value in changes.items():
                    target = _resolve(record, dotted)
                    if target is not None:
                        target[0][target[1]] = copy.deepcopy(value)
        return count

    def set_service_figures(self, service_type: str, *, index: int = 0, **figures: int) -> None:
        """Change figures (e.g. ``RemainMilliseconds=0``) of the ``index``-th package of a type.

        Every detail object that carries the figure is changed, universal and
        type-specific alike, as the real API repeats them (docs/ivh-api.md §4.1).
        """
        with self._lock:
            packages = [r for r in self.services if r.get("ServiceType") == service_type]
            if index >= len(packages):
                raise KeyError(f"{self.name} has no package #{index} of {service_type}")
            for detail in _detail_objects(packages[index]):
                for key, value in figures.items():
                    if key in detail:
                        detail[key] = value

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {
                "name": self.name,
                "appkey": self.appkey,
                "access_token": self.access_token,
                "gateway": self.gateway,
            }
            for collection in COLLECTIONS:
                out[collection] = copy.deepcopy(getattr(self, collection))
            return out

    def clone(self) -> SimAccount:
        data = self.to_dict()
        return SimAccount(**data)

    def _restore(self, other: SimAccount) -> None:
        data = other.to_dict()
        with self._lock:
            for collection in COLLECTIONS:
                setattr(self, collection, data[collection])


class Dataset:
    """The accounts the simulator serves, looked up by name or appkey."""

    def __init__(self, accounts: Iterable[SimAccount] = ()) -> None:
        self._accounts: dict[str, SimAccount] = {}
        self._by_appkey: dict[str, SimAccount] = {}
        for account in accounts:
            self.add(account)

    def add(self, account: SimAccount) -> None:
        if account.name in self._accounts:
            raise DatasetError(f"duplicate account name {account.name!r}")
        if account.appkey in self._by_appkey:
            raise DatasetError(f"duplicate appkey {account.appkey!r}")
        self._accounts[account.name] = account
        self._by_appkey[account.appkey] = account

    @property
    def accounts(self) -> list[SimAccount]:
        return list(self._accounts.values())

    def by_appkey(self, appkey: str) -> SimAccount | None:
        return self._by_appkey.get(appkey)

    def find(self, name_or_appkey: str) -> SimAccount | None:
        return self._accounts.get(name_or_appkey) or self._by_appkey.get(name_or_appkey)

    def account(self, name_or_appkey: str) -> SimAccount:
        found = self.find(name_or_appkey)
        if found is None:
            raise KeyError(f"no account {name_or_appkey!r}")
        return found

    def clone(self) -> Dataset:
        return Dataset(account.clone() for account in self._accounts.values())

    def restore(self, snapshot: Dataset) -> None:
        """Put every account's records back to ``snapshot``'s (same accounts by name)."""
        for account in self._accounts.values():
            original = snapshot.find(account.name)
            if original is not None:
                account._restore(original)

    def to_dict(self) -> dict[str, Any]:
        return {"accounts": [account.to_dict() for account in self._accounts.values()]}


# --------------------------------------------------------------------------- loading


def _required_str(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise DatasetError(f"{where}.{key}: required, a non-empty string")
    return value


def _account_from_raw(raw: Any, now: datetime, where: str) -> SimAccount:
    if not isinstance(raw, Mapping):
        raise DatasetError(f"{where}: expected a mapping")
    unknown = set(raw) - {"name", "appkey", "access_token", "gateway", *COLLECTIONS}
    if unknown:
        raise DatasetError(f"{where}: unknown field(s) {sorted(unknown)}")
    gateway = raw.get("gateway", DOMESTIC_GATEWAY)
    if not isinstance(gateway, str):
        raise DatasetError(f"{where}.gateway: expected a string")
    account = SimAccount(
        name=_required_str(raw, "name", where),
        appkey=_required_str(raw, "appkey", where),
        access_token=_required_str(raw, "access_token", where),
        actions=_render_actions(raw.get("actions"), now, f"{where}.actions"),
        gateway=gateway,
    )
    for collection in LIST_COLLECTIONS:
        setattr(
            account, collection, _render_list(raw.get(collection), now, f"{where}.{collection}")
        )
    return account


def dataset_from_dict(data: Any, now: datetime, *, source: str = "<dataset>") -> Dataset:
    """Build a dataset from the parsed file format (see the module docstring)."""
    _check_now(now)
    if not isinstance(data, Mapping) or not isinstance(data.get("accounts"), list):
        raise DatasetError(f"{source}: top level must be a mapping with an 'accounts' list")
    accounts = [
        _account_from_raw(raw, now, f"{source}: accounts[{i}]")
        for i, raw in enumerate(data["accounts"])
    ]
    try:
        return Dataset(accounts)
    except DatasetError as exc:
        raise DatasetError(f"{source}: {exc}") from exc


def load_dataset(path: str | Path, now: datetime) -> Dataset:
    """Load a YAML or JSON dataset file; relative dates are rendered against ``now``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise DatasetError(f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}") from exc
    return dataset_from_dict(data, now, source=str(path))


# --------------------------------------------------------------------------- default dataset

_ALL_CODES = [
    "real_man_2d",
    "small_sample_2d",
    "real_man_3d",
    "half_realistic_3d",
    "cartoon_3d",
    "small_sample_general_2d",
    "small_sample_4k_2d",
    "small_sample_photo_2d",
]
_TYPE_NAMES = {
    # Display names as the gateway writes them (getanchor/getimagebyanchor examples).
    "real_man_2d": "2D精品",
    "real_man_3d": "3D写实",
    "half_realistic_3d": "3D半写实",
    "cartoon_3d": "3D卡通",
    "small_sample_2d": "2D小样本(专属)",
    "small_sample_general_2d": "2D小样本(通用)",
    "small_sample_4k_2d": "2D小样本(高精)",
    "small_sample_photo_2d": "2D小样本(照片)",
    "small_sample_lite_2d": "2D小样本端渲染",
}
_THREE_D = frozenset({"real_man_3d", "half_realistic_3d", "cartoon_3d"})
_ALL_DRIVERS = ["Text", "OriginalVoice", "ModulatedVoice"]
_ABSENT = object()


def _category(service_type: str) -> str:
    if service_type.endswith("Hour"):
        return "hours"
    if service_type.endswith("Concurrency"):
        return "concurrency"
    return "quota"


def _service(
    service_type: str,
    expire: str,
    figures: Mapping[str, int],
    *,
    specific: str = "object",
    universal: bool = True,
) -> Record:
    """A ServiceAssetInfo; ``specific`` is "object", "array" (a documented slip) or "none"."""
    universal_name = {
        "hours": "UniversalHourInfoDetail",
        "concurrency": "UniversalConcurrencyInfoDetail",
        "quota": "UniversalAssetInfoDetail",
    }[_category(service_type)]
    record: Record = {"ExpireDate": expire, "ServiceType": service_type}
    if universal:
        record[universal_name] = dict(figures)
    if specific == "object":
        record[f"{service_type}InfoDetail"] = dict(figures)
    elif specific == "array":
        record[f"{service_type}InfoDetail"] = [dict(figures)]
    return record


def _hours(
    service_type: str, bought_h: float, left_h: float, expire: str, *, specific: str = "object"
) -> Record:
    figures = {
        "OrderMilliseconds": round(bought_h * _MS_PER_HOUR),
        "RemainMilliseconds": round(left_h * _MS_PER_HOUR),
    }
    return _service(service_type, expire, figures, specific=specific)


def _concurrency(service_type: str, n: int, expire: str, *, specific: str = "object") -> Record:
    return _service(service_type, expire, {"Concurrency": n}, specific=specific)


def _quota(
    service_type: str, total: int, left: int, expire: str, *, specific: str = "object"
) -> Record:
    figures = {"CustomizationNum": total, "RemainNum": left}
    return _service(service_type, expire, figures, specific=specific)


def _timbre(
    key: str,
    name: str,
    desc: str,
    gender: int,
    expire: object,
    *,
    audio_ms: int,
    audio_num: int,
    purchase: str = "Lease",
    timbre_type: str = "Boutique",
    languages: list[str] | None = None,
    emotions: list[str] | None = None,
    codes: list[str] | None = None,
) -> Record:
    record: Record = {
        "AudioDuration": audio_ms,
        "AudioNum": audio_num,
        "EmotionalCategories": emotions or [],
        "ExpireDate": expire,
        "PurchaseType": purchase,
        "SupportDriverTypes": ["Text", "OriginalVoice"],
        "SupportVirtualmanTypeCodes": codes or list(_ALL_CODES),
        "TimbreDesc": desc,
        "TimbreGender": gender,
        "TimbreKey": key,
        "TimbreLanguages": languages or [],
        "TimbreName": name,
        "TimbreSample": f"{_MEDIA}/timbre/{key}/sample.wav",
        "TimbreType": timbre_type,
    }
    if expire is _ABSENT:
        del record["ExpireDate"]
    return record


def _anchor(
    code: str, name: str, type_code: str, *, tag: str, purchase: str, gender: int | None
) -> Record:
    record: Record = {
        "HeaderImage": f"{_MEDIA}/anchor/{code}/header.png",
        "VirtualmanTypeCode": type_code,
        "VirtualmanType": _TYPE_NAMES[type_code],
        "Tag": tag,
        "PurchaseType": purchase,
        "AnchorCode": code,
        "AnchorName": name,
    }
    if gender is not None:
        record["Gender"] = gender
    return record


def _image(  # noqa: PLR0917 - positional fields read like the record they build
    key: str,
    anchor: Record,
    clothes: str,
    pose: str,
    resolution: str,
    expire: str,
    *,
    zoom: object = 1.0,
    background: bool | None = True,
    render: list[str] | None = None,
    video_ms: int = 0,
    video_num: int = 0,
    extra_params: list[Record] | None = None,
    model_url: str | None = None,
) -> Record:
    """An ImageAssetDetail grouped under ``anchor`` (docs/ivh-api.md §4.4)."""
    code = anchor["AnchorCode"]
    record: Record = {
        "AnchorCode": code,
        "AnchorName": anchor["AnchorName"],
        "BackgroundChangeable": background,
        "ClothesImage": f"{_MEDIA}/image/{key}/clothes.png",
        "ClothesName": clothes,
        "ExpireDate": expire,
        "HeaderImage": f"{_MEDIA}/image/{key}/header.png",
        "OriginZoom": zoom,
        "PoseImage": f"{_MEDIA}/image/{key}/pose.png",
        "PoseName": pose,
        "ReferenceVideoSegmentUrl": f"{_MEDIA}/image/{key}/pv.mp4",
        "Resolution": resolution,
        "SupportAnchorExtraParams": extra_params or [],
        "SupportDriverTypes": list(_ALL_DRIVERS),
        "VideoDuration": video_ms,
        "VideoNum": video_num,
        "VirtualmanKey": key,
        "VirtualmanType": anchor["VirtualmanType"],
        "VirtualmanTypeCode": anchor["VirtualmanTypeCode"],
        "PurchaseType": anchor["PurchaseType"],
        "SupportRenderTypes": render or ["cloud"],
    }
    if background is None:
        del record["BackgroundChangeable"]  # absent, like the vendor's own example
    if "Gender" in anchor:
        record["Gender"] = anchor["Gender"]
    if model_url is not None:
        record["ModelDownloadUrl"] = model_url
    return record


def _small_sample(image: Record, effective: str, expire: str, zoom: float) -> Record:
    """The SmallSampleImage view (§4.5) of an image; dates relative, rendered later."""
    keys = (
        "VirtualmanKey",
        "AnchorName",
        "AnchorCode",
        "BackgroundChangeable",
        "ClothesImage",
        "ClothesName",
        "HeaderImage",
        "PoseImage",
        "PoseName",
        "ReferenceVideoSegmentUrl",
        "Resolution",
        "SupportDriverTypes",
        "VideoDuration",
        "VideoNum",
    )
    record: Record = {key: copy.deepcopy(image[key]) for key in keys if key in image}
    record.update(
        {
            "EffectiveDate": effective,
            "EffectiveTime": effective,
            "ExpireDate": expire,
            "ExpireTime": expire,
            "OriginZoom": zoom,
            "OriginZoomStr": f"{zoom:.3f}",
        }
    )
    return record


def _actions(key: str, names: Iterable[tuple[str, str]]) -> list[Record]:
    return [
        {
            "ActionCode": code,
            "ActionSample": f"{_MEDIA}/actions/{key}/{code}.mp4",
            "ActionName": name,
        }
        for code, name in names
    ]


_BASIC_ACTIONS = [
    ("admission", "入场"),
    ("appearance", "出场"),
    ("bow", "弯腰鞠躬"),
    ("waving_hand1", "单手挥手"),
    ("welcome", "欢迎"),
    ("show_love3", "单手比心"),
    ("applaud", "鼓掌"),
]


def _vendor_examples() -> dict[str, Any]:
    text = (
        resources.files("monitor.simulator")
        .joinpath("vendor_examples.json")
        .read_text(encoding="utf-8")
    )
    data: dict[str, Any] = json.loads(text)
    data.pop("_source", None)
    return data


def _xinghe(now: datetime) -> SimAccount:
    """A live-commerce company: heavy broadcast usage, every category, the edge cases."""
    name, appkey, token = DEMO_ACCOUNTS[0]
    services = [
        _hours("BroadcastHour", 500, 15, "+5d"),  # 3 % left, expiring soon
        _hours("BroadcastHour", 1000, 920.5, "+200d"),  # same type, another package
        _concurrency("BroadcastConcurrency", 10, "+60d"),
        _concurrency("InteractConcurrency", 4, "+25d"),
        _hours("RealMan2DBroadcastHour", 100, 0, "+12d"),  # used up
        _concurrency("RealMan2DBroadcastConcurrency", 3, "+2d"),
        _hours("RealMan3DBroadcastHour", 100, 62.3, "+60d"),
        _concurrency("RealMan3DInteractConcurrency", 2, "-3d"),  # expired
        _quota("ImageAsset", 10, 0, "+200d"),  # quota exhausted
        _quota("TimbreAsset", 5, 2, "+60d"),
        _hours("TimbreHour", 100, 41, "+25d", specific="array"),  # §4.1: detail as an array
        # A type newer than enums.json: only the universal detail says what it is.
        _service(
            "Lite3DBroadcastHour",
            "+12d",
            {"OrderMilliseconds": 200 * _MS_PER_HOUR, "RemainMilliseconds": 150 * _MS_PER_HOUR},
            specific="none",
        ),
        _hours("SmallSampleGeneral2DBroadcastHour", 500, 120, "-3d"),  # expired with hours left
        _concurrency("SmallSampleGeneral2DBroadcastConcurrency", 5, "+200d", specific="none"),
        _hours("Cartoon3DBroadcastHour", 100, 8, "+60d"),
    ]
    timbres = [
        _timbre(
            "xh_anchor_female",
            "星河主播女声",
            "热情带货",
            2,
            "+12d",
            audio_ms=183_245_410,
            audio_num=5210,
            purchase="Custom",
            emotions=["tc_happy", "tc_exciting", "tc_neutral"],
            languages=["zh-CN"],
        ),
        _timbre("female_1", "女声1", "温柔磁性", 2, "", audio_ms=9_386_112, audio_num=412),
        _timbre("male_11", "男声11", "对话风格", 1, _ABSENT, audio_ms=1_204_339, audio_num=57),
        _timbre(
            "xh_promo_male",
            "促销男声",
            "快速口播",
            1,
            "-3d",
            audio_ms=40_112_000,
            audio_num=1320,
            timbre_type="SampleFast",
        ),
        _timbre(
            "xh_cantonese",
            "粤语女声",
            "港式亲切",
            2,
            "+200d",
            audio_ms=2_003_114,
            audio_num=96,
            languages=["zh-HK", "yue-CN"],
        ),
    ]
    lina = _anchor("xh_lina", "丽娜", "real_man_2d", tag="Advanced", purchase="Custom", gender=2)
    ajie = _anchor("xh_ajie", "阿杰", "real_man_3d", tag="Standard", purchase="Lease", gender=1)
    xiaoxing = _anchor(
        "xh_xiaoxing", "小星", "small_sample_2d", tag="Basic", purchase="Custom", gender=2
    )
    xiaoxing_lite = _anchor(
        "xh_xiaoxing_lite",
        "小星-端渲染",
        "small_sample_lite_2d",
        tag="Basic",
        purchase="Custom",
        gender=2,
    )
    mascot = _anchor(
        "xh_xingbao", "星宝", "cartoon_3d", tag="Standard", purchase="Custom", gender=None
    )
    shared = _image(
        "5c1e0b7a9d3f4e2a8b6c1d0e9f8a7b6c",
        xiaoxing,
        "白衬衫",
        "半身站姿",
        "1080x1920",
        "+5d",
        zoom="0.750",
        video_ms=7_200_000,
        video_num=64,
    )
    images = [
        _image(
            "3f9a2c1b7e6d4c5b9a8f7e6d5c4b3a21",
            lina,
            "红色连衣裙",
            "全身站姿",
            "1080x1920",
            "+60d",
            zoom="0.571",  # a string, as §4.4 documents
            video_ms=86_400_000,
            video_num=720,
        ),
        _image(
            "8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a",
            lina,
            "职业西装",
            "坐姿",
            "1920x1080",
            "+200d",
            zoom=1.0,
            video_ms=3_600_000,
            video_num=30,
        ),
        _image(
            "a1b2c3d4e5f60718293a4b5c6d7e8f90",
            ajie,
            "休闲卫衣",
            "全身站姿",
            "1080x1920",
            "+25d",
            background=None,  # missing, as in the vendor's own example
            zoom=0.8,
            video_ms=1_800_000,
            video_num=12,
            extra_params=[
                {"Key": "camera", "Description": "机位", "Type": 1, "Value": ["near", "far"]}
            ],
        ),
        shared,
        _image(
            "c0ffee00d15ea5e0b16b00b1e5a1e2d3",
            xiaoxing_lite,
            "白衬衫",
            "半身站姿",
            "720x1280",
            "+2d",
            zoom="0.500",
            render=["client"],
            model_url=f"{_MEDIA}/models/xh_xiaoxing_lite.zip",
        ),
        _image(
            "0b5e7a3c9d1f4e6a8c2b4d6f8a0c2e4f",
            mascot,
            "星星披风",
            "全身站姿",
            "1920x1080",
            "+200d",
            zoom=1.0,
            video_ms=600_000,
            video_num=9,
            extra_params=[
                {"Key": "wave", "Description": "是否挥手", "Type": 3, "Value": ["true", "false"]}
            ],
        ),
    ]
    small_sample_images = [
        _small_sample(shared, "-360d", "+5d", 0.75),  # same key as in images: one image
        _small_sample(
            _image(
                "e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4",
                xiaoxing,
                "旧款卫衣",
                "半身站姿",
                "1080x1920",
                "-3d",
                zoom="0.600",
            ),
            "-368d",
            "-3d",
            0.6,
        ),
    ]
    actions = {
        "a1b2c3d4e5f60718293a4b5c6d7e8f90": _actions(
            "a1b2c3d4e5f60718293a4b5c6d7e8f90", _BASIC_ACTIONS
        ),
        "0b5e7a3c9d1f4e6a8c2b4d6f8a0c2e4f": _actions(
            "0b5e7a3c9d1f4e6a8c2b4d6f8a0c2e4f", [*_BASIC_ACTIONS[:4], ("turn_around", "转圈")]
        ),
    }
    return _finish(
        SimAccount(name, appkey, token),
        now,
        services=services,
        timbres=timbres,
        anchors=[lina, ajie, xiaoxing, xiaoxing_lite, mascot],
        images=images,
        small_sample_images=small_sample_images,
        actions=actions,
    )


def _lanjing(now: datetime) -> SimAccount:
    """A video studio; holds the vendor's documented example records verbatim (long expired)."""
    name, appkey, token = DEMO_ACCOUNTS[1]
    vendor = _vendor_examples()
    xiaowei = vendor["anchors"][0]
    xiaowei_key = next(iter(vendor["actions"]))
    wl = _anchor(
        "wl_pink_skirt_suit_stand",
        "微澜-粉短裙套装-全身站姿",
        "small_sample_2d",
        tag="Basic",
        purchase="Lease",
        gender=2,
    )
    yunxi = _anchor(
        "lj_yunxi", "云汐", "small_sample_4k_2d", tag="Advanced", purchase="Custom", gender=2
    )
    photo = _anchor(
        "lj_laochen", "老陈", "small_sample_photo_2d", tag="Basic", purchase="Custom", gender=1
    )
    general = _anchor(
        "lj_anan", "安安", "small_sample_general_2d", tag="Standard", purchase="Custom", gender=2
    )
    yunxi_image = _image(
        "4b4c2e1f0a9d8c7b6a5f4e3d2c1b0a99",
        yunxi,
        "汉服",
        "半身站姿",
        "2160x3840",
        "+12d",
        zoom="1.000",
        video_ms=45_000_000,
        video_num=310,
    )
    photo_image = _image(
        "7f6e5d4c3b2a19081726354453627180",
        photo,
        "中山装",
        "半身站姿",
        "1080x1920",
        "+60d",
        zoom=0.9,
        video_ms=120_000,
        video_num=2,
    )
    general_image = _image(
        "99aa88bb77cc66dd55ee44ff33001122",
        general,
        "针织衫",
        "坐姿",
        "1920x1080",
        "+25d",
        zoom=0.7,
        video_ms=0,
        video_num=0,
    )
    xiaowei_image = _image(
        xiaowei_key,
        xiaowei,
        "工装",
        "全身站姿",
        "1920x1080",
        "+200d",
        zoom=1.0,
        video_ms=9_000_000,
        video_num=88,
    )
    services = [
        *vendor["services"],
        _hours("NoTrainVideoBroadcastHour", 500, 200, "+25d"),
        _concurrency("NoTrainVideoBroadcastConcurrency", 2, "+25d"),
        _hours("SmallSample4K2DBroadcastHour", 100, 97, "+12d"),
        _quota("SmallSample4K2DImageAsset", 3, 1, "+200d"),
        _quota("SmallSamplePhoto2DImageAsset", 20, 17, "+60d"),
        _hours("SmallSamplePhoto2DBroadcastHour", 1000, 20, "+2d"),  # 2 % left
        _quota("SmallSampleImageRenewalAsset", 5, 5, "+60d"),
        _quota("ZeroShotTimbreAsset", 10, 4, "+5d"),
        _concurrency("SmallSample4K2DBroadcastConcurrency", 1, "-3d"),
    ]
    timbres = [
        *vendor["timbres"],
        _timbre(
            "lj_narrator",
            "纪录片旁白",
            "沉稳厚重",
            1,
            "+200d",
            audio_ms=72_004_123,
            audio_num=903,
            purchase="Custom",
            timbre_type="SampleBasic",
            emotions=["1", "5", "6"],
        ),
    ]
    return _finish(
        SimAccount(name, appkey, token),
        now,
        services=services,
        timbres=timbres,
        anchors=[*vendor["anchors"], wl, yunxi, photo, general],
        images=[*vendor["images"], xiaowei_image, yunxi_image, photo_image, general_image],
        small_sample_images=[
            *vendor["small_sample_images"],
            _small_sample(yunxi_image, "-353d", "+12d", 1.0),
            _small_sample(general_image, "-340d", "+25d", 0.7),
        ],
        actions=vendor["actions"],
    )


def _horizon(now: datetime) -> SimAccount:
    """An account on the international gateway (gw-sg), multilingual voices, 3D avatars."""
    name, appkey, token = DEMO_ACCOUNTS[2]
    mia = _anchor("hz_mia", "Mia", "half_realistic_3d", tag="Advanced", purchase="Custom", gender=2)
    bolt = _anchor("hz_bolt", "Bolt", "cartoon_3d", tag="Basic", purchase="Lease", gender=0)
    leo = _anchor(
        "hz_leo", "Leo", "small_sample_general_2d", tag="Standard", purchase="Custom", gender=1
    )
    mia_image = _image(
        "f1e2d3c4b5a697887766554433221100",
        mia,
        "Blazer",
        "Standing",
        "1920x1080",
        "+60d",
        zoom=1.0,
        video_ms=25_200_000,
        video_num=140,
    )
    bolt_image = _image(
        "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d",
        bolt,
        "Hoodie",
        "Standing",
        "1080x1920",
        "+12d",
        zoom="0.850",
        video_ms=300_000,
        video_num=4,
    )
    leo_image = _image(
        "abcdefabcdefabcdefabcdefabcdef01",
        leo,
        "Polo",
        "Sitting",
        "1920x1080",
        "+25d",
        zoom=0.65,
        video_ms=1_500_000,
        video_num=21,
    )
    services = [
        _hours("HalfRealistic3DBroadcastHour", 1000, 705, "+60d"),
        _concurrency("HalfRealistic3DInteractConcurrency", 3, "+60d"),
        _concurrency("HalfRealistic3DBroadcastConcurrency", 2, "+60d"),
        _concurrency("Cartoon3DInteractConcurrency", 1, "+12d"),
        _hours("Cartoon3DBroadcastHour", 100, 100, "+12d"),
        # §4.1: the docs give this concurrency type hour fields; never fail on it.
        {
            "ExpireDate": "+200d",
            "RealMan2DBroadcastConcurrencyInfoDetail": {
                "OrderMilliseconds": 0,
                "RemainMilliseconds": 0,
            },
            "ServiceType": "RealMan2DBroadcastConcurrency",
            "UniversalConcurrencyInfoDetail": {"Concurrency": 2},
        },
        _quota("SmallSampleGeneral2DImageAsset", 5, 3, "+25d"),
        _concurrency("SmallSampleGeneral2DInteractConcurrency", 2, "+25d"),
        _quota("SmallSampleGeneralImageRenewalAsset", 2, 2, "+200d"),
        _quota("TimbreRenewalAsset", 3, 0, "+5d"),
        _quota("RealMan3DImageRenewalAsset", 1, 1, "+60d"),
        _concurrency("SmallSamplePhoto2DInteractConcurrency", 1, "+36h"),
    ]
    timbres = [
        _timbre(
            "hz_ava_en",
            "Ava",
            "Warm presenter",
            2,
            "+60d",
            audio_ms=15_230_000,
            audio_num=240,
            languages=["en-US", "en-GB"],
            emotions=["tc_neutral", "tc_happy"],
        ),
        _timbre(
            "hz_haruka_ja",
            "Haruka",
            "Calm narrator",
            2,
            "",
            audio_ms=2_400_500,
            audio_num=33,
            languages=["ja-JP"],
        ),
        _timbre(
            "hz_zeroshot_ceo",
            "CEO voice",
            "Zero-shot clone",
            1,
            "+25d",
            audio_ms=600_000,
            audio_num=11,
            purchase="Custom",
            timbre_type="SampleFast",
            languages=["en-US", "zh-CN", "ms-MY", "id-ID"],
        ),
    ]
    actions = {
        mia_image["VirtualmanKey"]: _actions(mia_image["VirtualmanKey"], _BASIC_ACTIONS),
        bolt_image["VirtualmanKey"]: _actions(bolt_image["VirtualmanKey"], _BASIC_ACTIONS[:3]),
    }
    account = SimAccount(name, appkey, token, gateway=INTERNATIONAL_GATEWAY)
    return _finish(
        account,
        now,
        services=services,
        timbres=timbres,
        anchors=[mia, bolt, leo],
        images=[mia_image, bolt_image, leo_image],
        small_sample_images=[_small_sample(leo_image, "-340d", "+25d", 0.65)],
        actions=actions,
    )


def _finish(
    account: SimAccount,
    now: datetime,
    *,
    actions: Mapping[str, list[Record]] | None = None,
    **collections: list[Record],
) -> SimAccount:
    """Render the relative dates of freshly built records, as a dataset file would be."""
    where = f"default_dataset.{account.name}"
    for collection, records in collections.items():
        setattr(account, collection, _render_list(records, now, f"{where}.{collection}"))
    account.actions = _render_actions(actions or {}, now, f"{where}.actions")
    return account


def default_dataset(now: datetime) -> Dataset:
    """The demo dataset: four accounts, dates relative to ``now``.

    - ``xinghe-live`` (live commerce): every category; two ``BroadcastHour``
      packages (3 % left, +5 d; and +200 d); ``RealMan2DBroadcastHour`` at 0 h
      (+12 d); ``ImageAsset`` quota 0 left; ``TimbreHour`` whose specific
      detail is an array; unknown type ``Lite3DBroadcastHour`` (+12 d); expired
      packages (-3 d); voices never expiring (empty and absent ``ExpireDate``);
      one image key in both getimagebyanchor and describesmallsampleimage.
    - ``lanjing-studio``: the vendor's example records verbatim (2023/2024
      dates: expired), small-sample image types, 2 % of an hour package left.
    - ``horizon-sg``: international gateway, 3D images with actions.
    - ``empty-trial``: no assets at all (Total 0 everywhere).
    """
    _check_now(now)
    name, appkey, token = DEMO_ACCOUNTS[3]
    return Dataset([_xinghe(now), _lanjing(now), _horizon(now), SimAccount(name, appkey, token)])


# --------------------------------------------------------------------------- synthetic fleet


def generate_fleet(accounts: int, assets_per_account: int, now: datetime, seed: int = 0) -> Dataset:
    """A large deterministic dataset for benchmarks and pagination tests.

    Each account ``fleet-NNNN`` (appkey ``ak-fleet-NNNN``, token
    ``at-fleet-NNNN``) gets ``assets_per_account`` services, voices and images
    each (images spread over the nine avatar types, five per anchor), half as
    many small-sample images (sharing keys with images) and actions for its 3D
    images. The same arguments always give the same records.
    """
    _check_now(now)
    rng = random.Random(seed)
    types = [t["code"] for t in service_types()]
    type_codes = [*_ALL_CODES, "small_sample_lite_2d"]
    fleet = Dataset()
    for a in range(accounts):
        tag = f"fleet-{a + 1:04d}"
        account = SimAccount(tag, f"ak-{tag}", f"at-{tag}")
        services: list[Record] = []
        for _ in range(assets_per_account):
            service_type = rng.choice(types)
            expire = f"{rng.choice('+-')}{rng.randint(1, 400)}d"
            kind = _category(service_type)
            if kind == "hours":
                bought = rng.choice([10, 50, 100, 500, 1000])
                services.append(_hours(service_type, bought, bought * rng.random(), expire))
            elif kind == "concurrency":
                services.append(_concurrency(service_type, rng.randint(1, 20), expire))
            else:
                total = rng.randint(1, 50)
                services.append(_quota(service_type, total, rng.randint(0, total), expire))
        timbres = [
            _timbre(
                f"{tag}-voice-{i:05d}",
                f"声音{i}",
                "合成音色",
                rng.choice([1, 2]),
                rng.choice(["", f"+{rng.randint(1, 400)}d", f"-{rng.randint(1, 30)}d"]),
                audio_ms=rng.randint(0, 10**9),
                audio_num=rng.randint(0, 10**5),
            )
            for i in range(assets_per_account)
        ]
        anchors: list[Record] = []
        images: list[Record] = []
        actions: dict[str, list[Record]] = {}
        for i in range(assets_per_account):
            if i % 5 == 0:
                type_code = type_codes[(i // 5) % len(type_codes)]
                anchors.append(
                    _anchor(
                        f"{tag}-anchor-{i // 5:04d}",
                        f"主播{i // 5}",
                        type_code,
                        tag=rng.choice(["Basic", "Standard", "Advanced"]),
                        purchase=rng.choice(["Lease", "Custom"]),
                        gender=rng.choice([0, 1, 2]),
                    )
                )
            key = f"{rng.getrandbits(128):032x}"
            image = _image(
                key,
                anchors[-1],
                "服装",
                "站姿",
                rng.choice(["1080x1920", "1920x1080"]),
                f"{rng.choice('+-')}{rng.randint(1, 400)}d",
                zoom=round(rng.uniform(0.3, 1.0), 3),
                video_ms=rng.randint(0, 10**8),
                video_num=rng.randint(0, 1000),
            )
            images.append(image)
            if anchors[-1]["VirtualmanTypeCode"] in _THREE_D:
                actions[key] = _actions(key, _BASIC_ACTIONS)
        small = [
            _small_sample(image, "-400d", image["ExpireDate"], 1.0)
            for image in images[: assets_per_account // 2]
        ]
        fleet.add(
            _finish(
                account,
                now,
                services=services,
                timbres=timbres,
                anchors=anchors,
                images=images,
                small_sample_images=small,
                actions=actions,
            )
        )
    return fleet
