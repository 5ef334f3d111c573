"""Datasets from files: the user's ``--dataset FILE`` and the built-in demo accounts.

File format (YAML for ``.yaml``/``.yml``, JSON for ``.json``; docs/simulator.md)::

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

Every collection is optional. Records are written exactly as the gateway
returns them; their date fields may be relative to the load time (``"+7d"``,
``"-3d"``, ``"+36h"``, ``"+90m"``, ``"+45s"``: :mod:`monitor.simulator.records`).
Anything else is kept verbatim, blank and placeholder dates included (``""``,
``"0001-01-01 00:00:00"``, ``"9999-12-31 23:59:59"``, an ``ExpireTime`` of 0 or
below): an empty ``ExpireDate`` means "never expires" for a voice (§4.2) but
"unknown" for a service package or an image, where the date is required (§4.1,
§4.4). Detail objects are served as written, hour fields on a concurrency type
too (§4.1). Unquoted YAML timestamps such as ``2024-04-05 11:31:07`` are
turned back into that text.

The demo accounts are such a file, ``demo-accounts.yaml`` next to this module;
``example-dataset.yaml`` is a short one to start one's own from. A file that
cannot be used is a :class:`DatasetError` of one line naming file and field.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from monitor.simulator.dataset import (
    COLLECTIONS,
    DOMESTIC_GATEWAY,
    LIST_COLLECTIONS,
    Dataset,
    SimAccount,
)
from monitor.simulator.records import DatasetError, check_now, render_actions, render_records

__all__ = ["DEMO_ACCOUNTS", "DEMO_FILE", "dataset_from_dict", "default_dataset", "load_dataset"]

#: the demo accounts' data file, package data of ``monitor.simulator``
DEMO_FILE = "demo-accounts.yaml"

_ACCOUNT_FIELDS = frozenset({"name", "appkey", "access_token", "gateway", *COLLECTIONS})
# libyaml's parser when it is there (the demo file loads on every start), else PyYAML's
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _required_str(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise DatasetError(f"{where}.{key}: required, a non-empty string")
    return value


def _account_from_raw(raw: Any, now: datetime, where: str) -> SimAccount:
    if not isinstance(raw, Mapping):
        raise DatasetError(f"{where}: expected a mapping")
    unknown = set(raw) - _ACCOUNT_FIELDS
    if unknown:
        raise DatasetError(f"{where}: unknown field(s) {sorted(unknown)}")
    gateway = raw.get("gateway", DOMESTIC_GATEWAY)
    if not isinstance(gateway, str):
        raise DatasetError(f"{where}.gateway: expected a string")
    account = SimAccount(
        name=_required_str(raw, "name", where),
        appkey=_required_str(raw, "appkey", where),
        access_token=_required_str(raw, "access_token", where),
        actions=render_actions(raw.get("actions"), now, f"{where}.actions"),
        gateway=gateway,
    )
    for collection in LIST_COLLECTIONS:
        setattr(
            account, collection, render_records(raw.get(collection), now, f"{where}.{collection}")
        )
    return account


def dataset_from_dict(data: Any, now: datetime, *, source: str = "<dataset>") -> Dataset:
    """Build a dataset from the parsed file format (see the module docstring)."""
    check_now(now)
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


def _parse(text: str, source: str, *, as_json: bool) -> Any:
    """The parsed file; a syntax error is one line with the place it was found."""
    try:
        return json.loads(text) if as_json else yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
    except json.JSONDecodeError as exc:
        where, problem = f"line {exc.lineno}, column {exc.colno}", exc.msg
        kind = "JSON"
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = "" if mark is None else f"line {mark.line + 1}, column {mark.column + 1}"
        problem = str(getattr(exc, "problem", None) or exc)
        kind = "YAML"
    at = f" at {where}" if where else ""
    raise DatasetError(f"{source}: not valid {kind}{at}: {' '.join(problem.split())}")


def load_dataset(path: str | Path, now: datetime) -> Dataset:
    """Load a YAML or JSON dataset file; relative dates are rendered against ``now``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    data = _parse(text, str(path), as_json=path.suffix.lower() == ".json")
    return dataset_from_dict(data, now, source=str(path))


@functools.cache
def _demo_data() -> Any:
    """The demo file, parsed once; callers copy it (accounts mutate their records)."""
    text = resources.files("monitor.simulator").joinpath(DEMO_FILE).read_text(encoding="utf-8")
    return _parse(text, DEMO_FILE, as_json=False)


def default_dataset(now: datetime) -> Dataset:
    """The demo dataset (``demo-accounts.yaml``): four accounts, dates relative to ``now``.

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
    return dataset_from_dict(copy.deepcopy(_demo_data()), now, source=DEMO_FILE)


DEMO_ACCOUNTS: list[tuple[str, str, str]] = [
    (account.name, account.appkey, account.access_token)
    for account in default_dataset(datetime(2000, 1, 1, tzinfo=UTC)).accounts
]
"""Demo credentials of :func:`default_dataset`: (name, appkey, access_token).

Public demo values, fine to print; they open nothing but the simulator.
"""
