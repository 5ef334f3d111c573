"""Prometheus exposition: a custom collector over the current snapshot.

Every scrape reads ``store.current`` once and yields fresh metric families,
so an asset that vanished upstream vanishes here, and a scrape never waits on
(or calls) the gateway. Sample output::

    # TYPE ivh_asset_expiry_timestamp_seconds gauge
    ivh_asset_expiry_timestamp_seconds{account="live",asset="female_1",kind="timbre"} 1.75e+09
    # TYPE ivh_service_remaining_seconds gauge
    ivh_service_remaining_seconds{account="live",asset="BroadcastHour-20261210180000",
        category="hours",service_type="BroadcastHour"} 54000.0
    # TYPE ivh_collection_success gauge
    ivh_collection_success{account="live",family="services"} 1.0
"""

from __future__ import annotations

import concurrent.futures
import itertools
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, TypeVar

import prometheus_client.metrics as prometheus_metrics
import structlog
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from monitor import __version__
from monitor.alerts.config import (
    RULE_NAMES,
    AlertsConfig,
    RuleThresholds,
    asset_specific_overrides,
    thresholds_for,
)
from monitor.config import ScheduleConfig
from monitor.domain import ANOMALY_REASONS, FAMILIES, Anchor, Asset, Family
from monitor.endpoints import ENDPOINT_NAMES
from monitor.forecast import Forecast
from monitor.packed import Packed, Piece, pack, unpack
from monitor.precedence import no_pause
from monitor.snapshot import FamilyState, Snapshot, SnapshotStore

__all__ = [
    "AlertCollector",
    "AlertState",
    "AssetCollector",
    "DaemonMetrics",
    "ExpositionRegistry",
    "FiringAlert",
    "LabelMemo",
    "NotificationQueue",
    "Prerenderer",
    "StoreHealth",
]

log = structlog.get_logger("monitor.exposition")

_FAMILY_OF_KIND = {"service": "services", "timbre": "timbres", "image": "images"}


def _every(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


@dataclass(frozen=True, slots=True)
class _Spec:
    """One metric family's name, help and labels; :meth:`family` makes it afresh."""

    name: str
    help: str
    labels: tuple[str, ...] = ()
    counter: bool = False

    def family(self, suffix: str = "") -> GaugeMetricFamily | CounterMetricFamily:
        kind = CounterMetricFamily if self.counter else GaugeMetricFamily
        return kind(self.name, self.help + suffix, labels=list(self.labels))


_ASSET = ("account", "kind", "asset")
_SERVICE = ("account", "asset", "service_type", "category")
_OWN = ("account", "asset")

_ASSET_INFO = _Spec(
    "ivh_asset_info", "Metadata of an asset (always 1).", (*_ASSET, "name", "type", "purchase_type")
)
_ASSET_EXPIRY = _Spec(
    "ivh_asset_expiry_timestamp_seconds",
    "When the asset expires (Unix time); absent when it never expires or its expiry is unknown.",
    _ASSET,
)
_ASSET_START = _Spec(
    "ivh_asset_start_timestamp_seconds",
    "When the asset's validity starts (Unix time; small-sample images' EffectiveTime); in"
    " the future while it is bought but not active yet; absent when the API gives no start.",
    _ASSET,
)
_TIMBRE_AVATAR_TYPE = _Spec(
    "ivh_timbre_avatar_type_info",
    "An avatar type (VirtualmanTypeCode) the voice works with (always 1; one series per"
    " voice and type).",
    ("account", "asset", "avatar_type"),
)
_ASSET_EXPIRY_UNKNOWN = _Spec(
    "ivh_asset_expiry_unknown",
    "1 when the API gave no usable expiry for the asset (blank where required, or a"
    " placeholder date): not the same as never expiring.",
    _ASSET,
)

#: The figures of one kind of asset: (family, the kind it is about, the job that
#: refreshes it, the figure of an asset; ``None`` is no sample). In exposition order.
_KIND_METRICS: tuple[tuple[_Spec, str, str, Callable[[Asset], float | int | None]], ...] = (
    (
        _Spec("ivh_service_ordered_seconds", "Hours bought in the package, in seconds.", _SERVICE),
        "service",
        "service",
        lambda a: a.ordered_seconds,
    ),
    (
        _Spec("ivh_service_remaining_seconds", "Hours left in the package, in seconds.", _SERVICE),
        "service",
        "service",
        lambda a: a.remaining_seconds,
    ),
    (
        _Spec("ivh_service_quota_limit", "Customisation quota bought (count).", _SERVICE),
        "service",
        "service",
        lambda a: a.quota_limit,
    ),
    (
        _Spec("ivh_service_quota_remaining", "Customisation quota left (count).", _SERVICE),
        "service",
        "service",
        lambda a: a.quota_remaining,
    ),
    (
        _Spec("ivh_service_concurrency_limit", "Concurrent sessions allowed.", _SERVICE),
        "service",
        "service",
        lambda a: a.concurrency,
    ),
    (
        _Spec(
            "ivh_timbre_audio_seconds",
            "Audio produced with the voice, mirrored from upstream (seconds).",
            _OWN,
            counter=True,
        ),
        "timbre",
        "timbre",
        lambda a: a.audio_seconds,
    ),
    (
        _Spec(
            "ivh_timbre_audio_requests",
            "Audio requests made with the voice, mirrored from upstream.",
            _OWN,
            counter=True,
        ),
        "timbre",
        "timbre",
        lambda a: a.audio_requests,
    ),
    (
        _Spec(
            "ivh_image_video_seconds",
            "Video produced with the image, mirrored from upstream (seconds).",
            _OWN,
            counter=True,
        ),
        "image",
        "image",
        lambda a: a.video_seconds,
    ),
    (
        _Spec(
            "ivh_image_videos",
            "Videos produced with the image, mirrored from upstream.",
            _OWN,
            True,
        ),
        "image",
        "image",
        lambda a: a.videos,
    ),
    (
        _Spec("ivh_image_actions", "Actions available to a 3D image.", _OWN),
        "image",
        "action",
        lambda a: a.actions,
    ),
)

_ANCHOR_INFO = _Spec(
    "ivh_anchor_info",
    "An anchor: a group of images, with no expiry of its own (always 1).",
    ("account", "anchor", "name", "type"),
)
_ANCHOR_IMAGES = _Spec("ivh_anchor_images", "Images of the anchor.", ("account", "anchor"))

_FAMILY = ("account", "family")

#: Collection health of one (account, family): (family, shown from the first attempt
#: or only once a collection succeeded, the figure). In exposition order.
_HEALTH_METRICS: tuple[
    tuple[_Spec, Literal["attempt", "success"], Callable[[FamilyState], float]], ...
] = (
    (
        _Spec(
            "ivh_collection_success",
            "Whether the last collection of the family succeeded (1) or failed (0); before"
            " the first attempt the series is absent.",
            _FAMILY,
        ),
        "attempt",
        lambda s: 1.0 if s.success else 0.0,
    ),
    (
        _Spec(
            "ivh_collection_last_success_timestamp_seconds",
            "When the family was last collected successfully (Unix time).",
            _FAMILY,
        ),
        "success",
        lambda s: s.last_success.timestamp() if s.last_success is not None else 0.0,
    ),
    (
        _Spec(
            "ivh_collection_duration_seconds",
            "How long the last collection of the family took.",
            _FAMILY,
        ),
        "attempt",
        lambda s: s.duration_seconds,
    ),
    (
        _Spec(
            "ivh_collection_stale",
            "1 while the family's data is kept from an earlier success because the last"
            " attempt failed; dropped once older than stale_after.",
            _FAMILY,
        ),
        "attempt",
        lambda s: 1.0 if s.stale() else 0.0,
    ),
    (
        _Spec(
            "ivh_collection_skipped_records",
            "Records the last successful collection could not read and skipped.",
            _FAMILY,
        ),
        "success",
        lambda s: float(s.skipped_records),
    ),
    (
        _Spec(
            "ivh_collection_partial",
            "1 while the family's data is what arrived of an incomplete listing (rows not"
            " adding up to its Total) because no complete one has been collected yet.",
            _FAMILY,
        ),
        "attempt",
        lambda s: 1.0 if s.partial else 0.0,
    ),
)

_COLLECTOR_ENABLED = _Spec(
    "ivh_collector_enabled",
    "Whether the family is collected (1) or turned off by collectors.<family> /"
    " --no-collector.<family> (0): a family off has no other series.",
    ("family",),
)

_RECORD_ANOMALIES = _Spec(
    "ivh_collection_record_anomalies",
    "Oddities in records the last successful collection kept but could not place as"
    " documented (negative, implausible, off-category figures or more remaining than"
    " ordered, no figures, unknown category, untold image type, placeholder"
    " ExpireTime), by reason; see the collect.record_anomaly log events.",
    (*_FAMILY, "reason"),
)

_EVERY_FORECAST = " Recomputed after each services collection from the usage history."
_MODEL = " (the weekly profile, or the line while history is short: ivh_service_forecast_info)"


def _forecast(name: str, text: str) -> _Spec:
    return _Spec(name, text + _EVERY_FORECAST, _SERVICE)


def _at(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


_FORECAST_INFO = _Spec(
    "ivh_service_forecast_info",
    "1 per forecast hour package; model is weekly (burn per hour of the week in the"
    " account's zone, with its trend) or linear (the line over window_days)." + _EVERY_FORECAST,
    (*_SERVICE, "model"),
)

#: An hour package's forecast: (family, the figure; ``None`` is no sample). In
#: exposition order, after :data:`_FORECAST_INFO`.
_FORECAST_METRICS: tuple[tuple[_Spec, Callable[[Forecast], float | None]], ...] = (
    (
        _forecast(
            "ivh_service_usage_rate",
            "Burn rate of an hour package expected now: seconds used per second" + _MODEL + ".",
        ),
        lambda fc: fc.rate,
    ),
    (
        _forecast(
            "ivh_service_usual_usage_rate",
            "The usual burn of an hour package over the runaway check's last period"
            " (sustained_minutes), never below half the week's mean: seconds per second.",
        ),
        lambda fc: fc.usual_rate,
    ),
    (
        _forecast(
            "ivh_service_observed_usage_rate",
            "The burn observed over the runaway check's last period: seconds per second.",
        ),
        lambda fc: fc.current_rate,
    ),
    (
        _forecast(
            "ivh_service_burn_ratio",
            "Observed burn over the usual burn for those hours of the week (runaway_burn"
            " fires at its factor, default 3).",
        ),
        lambda fc: fc.burn_ratio,
    ),
    (
        _forecast(
            "ivh_service_runaway",
            "1 while the package burns at least the runaway_burn factor times its usual"
            " rate, sustained; 0 otherwise; absent while not checked (rule disabled, too"
            " little recent history).",
        ),
        lambda fc: None if fc.current_rate is None else float(fc.runaway),
    ),
    (
        _forecast(
            "ivh_service_depletion_timestamp_seconds",
            "When the package runs dry at the forecast burn (Unix time)" + _MODEL + "; absent"
            " while it is not being used.",
        ),
        lambda fc: _at(fc.depletion_at),
    ),
    (
        _forecast(
            "ivh_service_depletion_earliest_timestamp_seconds",
            "The early end of the run-dry time's band (about 90 %); absent where the"
            " history does not allow a band.",
        ),
        lambda fc: _at(fc.depletion_earliest),
    ),
    (
        _forecast(
            "ivh_service_depletion_latest_timestamp_seconds",
            "The late end of the run-dry time's band (about 90 %); absent where the history"
            " does not allow a band, or it may never run dry.",
        ),
        lambda fc: _at(fc.depletion_latest),
    ),
    (
        _forecast(
            "ivh_service_unused_at_expiry_seconds",
            "Seconds of the package still unused when it expires, at the forecast burn.",
        ),
        lambda fc: fc.unused_at_expiry,
    ),
)


class _Families:
    """Fixed metric families, in the shape ``generate_latest`` renders."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


#: the exposition formats rendered: ``text`` (0.0.4) and ``openmetrics`` (1.0.0)
Format = Literal["text", "openmetrics"]
_EOF = b"# EOF\n"


def _library_encode(families: Sequence[Metric], fmt: Format) -> bytes:
    """The families in ``fmt`` by prometheus_client's own encoders; OpenMetrics
    without its closing ``# EOF``."""
    if fmt == "text":
        return generate_latest(_Families(families))
    body: bytes = openmetrics_latest(_Families(families))  # type: ignore[no-untyped-call]
    return body.removesuffix(_EOF)


#: names every encoder keeps as they are (no colon: OpenMetrics' escaping of sample
#: names would turn it into ``_``); anything else is left to the library's encoders
_PLAIN_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
#: the suffixes the text format moves to gauges of their own after the family
_TEXT_APART = ("_created", "_gsum", "_gcount")
#: ``# HELP``/``# TYPE`` of a family by (format, name, type, help): few, never changing
_HEADERS: dict[tuple[Format, str, str, str], str] = {}
#: at most this many label sets kept rendered by a :class:`LabelMemo`
_MEMO_MAX = 50_000


_BS, _BS2, _NL, _ENL, _Q, _EQ = "\\", r"\\", "\n", r"\n", '"', r"\""


#: label names (in a sample's order) -> the same sorted, or ``None`` where one would be
#: escaped by the encoders: few, fixed by the families (bounded all the same)
_LABEL_ORDER: dict[tuple[str, ...], tuple[str, ...] | None] = {}


def _label_order(names: tuple[str, ...]) -> tuple[str, ...] | None:
    try:
        return _LABEL_ORDER[names]
    except KeyError:
        pass
    if len(_LABEL_ORDER) >= _MEMO_MAX:
        _LABEL_ORDER.clear()
    plain = all(_PLAIN_NAME.match(key) and not key.startswith("__") for key in names)
    order = _LABEL_ORDER[names] = tuple(sorted(names)) if plain else None
    return order


def _labels_text(labels: Mapping[str, str]) -> str | None:
    """``{k="v",...}`` sorted by name as both encoders write it; ``None`` for a label
    name they would escape (the library encodes that family)."""
    if not labels:
        return ""
    order = _label_order(tuple(labels))
    if order is None:
        return None
    parts = [
        # escaped as both encoders escape label values; inline: the hottest line of a
        # render (a function call per label cost a third of it)
        key + '="' + labels[key].replace(_BS, _BS2).replace(_NL, _ENL).replace(_Q, _EQ) + '"'
        for key in order
    ]
    return "{" + ",".join(parts) + "}"


class LabelMemo:
    """Rendered label sets of the live families (the daemon's counters and
    histograms: a bounded set of label values, the same every scrape), so a scrape
    formats only their values. Emptied when it grows past ``_MEMO_MAX``."""

    def __init__(self) -> None:
        self._texts: dict[tuple[tuple[str, str], ...], str | None] = {}
        self._prefixes: dict[tuple[str, ...], str | None] = {}

    def prefix(self, name: str, names: tuple[str, ...], values: tuple[str, ...]) -> str | None:
        """``name{labels} `` of a series of a labelled metric."""
        key = (name, *values)
        try:
            return self._prefixes[key]
        except KeyError:
            pass
        if len(self._prefixes) >= _MEMO_MAX:
            self._prefixes.clear()
        labels = _labels_text(dict(zip(names, values, strict=True)))
        text = self._prefixes[key] = None if labels is None else f"{name}{labels} "
        return text

    def text(self, labels: Mapping[str, str]) -> str | None:
        key = tuple(labels.items())
        try:
            return self._texts[key]
        except KeyError:
            pass
        if len(self._texts) >= _MEMO_MAX:
            self._texts.clear()
        text = self._texts[key] = _labels_text(labels)
        return text


def _header(metric: Metric, fmt: Format) -> str:
    key = (fmt, metric.name, metric.type, metric.documentation)
    header = _HEADERS.get(key)
    if header is None:
        bare = Metric(metric.name, metric.documentation, metric.type)
        header = _HEADERS[key] = _library_encode([bare], fmt).decode()
    return header


def _fast_family(metric: Metric, fmt: Format, memo: LabelMemo | None) -> str | None:
    """One family as prometheus_client's encoder of ``fmt`` writes it, or ``None`` if
    it has what this does not write (units, exemplars, timestamps, native
    histograms, names or label names the encoders would escape)."""
    name = metric.name
    if metric.unit or not _PLAIN_NAME.match(name):
        return None
    lines = [_header(metric, fmt)]
    apart: dict[str, list[str]] = {}
    apart_names = {name + suffix: suffix for suffix in _TEXT_APART} if fmt == "text" else {}
    plain: set[str] = set()
    labels_text = _labels_text if memo is None else memo.text
    for s in metric.samples:
        if (
            s.value is None
            or s.timestamp is not None
            or s.exemplar is not None
            or s.native_histogram is not None
        ):
            return None
        if s.name not in plain:
            if not _PLAIN_NAME.match(s.name):
                return None
            plain.add(s.name)
        labels = labels_text(s.labels)
        if labels is None:
            return None
        line = f"{s.name}{labels} {floatToGoString(s.value)}\n"  # type: ignore[no-untyped-call]
        suffix = apart_names.get(s.name)
        if suffix is None:
            lines.append(line)
        else:
            apart.setdefault(suffix, []).append(line)
    doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
    for suffix, more in sorted(apart.items()):
        lines.append(f"# HELP {name}{suffix} {doc}\n# TYPE {name}{suffix} gauge\n")
        lines.extend(more)
    return "".join(lines)


def _counter_lines(counter: object, memo: LabelMemo) -> list[str] | None:
    """A labelled :class:`~prometheus_client.Counter`'s sample lines, read off its
    children (the same in both formats), or ``None`` where its ``collect()`` would
    show more (``_created``, no labels, a subclass): the daemon's
    ``ivh_api_requests_total`` has a series per account, endpoint and outcome, and
    ``collect()`` makes a Sample and takes two locks per series. No exemplars are
    ever given to the daemon's counters."""
    if type(counter) is not Counter or prometheus_metrics._use_created:
        return None
    names: tuple[str, ...] | None = getattr(counter, "_labelnames", None)
    children: dict[tuple[str, ...], Counter] | None = getattr(counter, "_metrics", None)
    lock = getattr(counter, "_lock", None)
    if not names or children is None or lock is None:
        return None
    with lock:
        items = list(children.items())
    total = counter._name + "_total"
    lines = []
    for values, child in items:
        prefix = memo.prefix(total, names, values)
        if prefix is None:
            return None
        value = child._value.get()
        lines.append(f"{prefix}{floatToGoString(value)}\n")  # type: ignore[no-untyped-call]
    return lines


def _encode_counter(counter: object, fmt: Format, memo: LabelMemo) -> bytes | None:
    lines = _counter_lines(counter, memo)
    if lines is None:
        return None
    header = _header(
        Metric(counter._name, counter._documentation, "counter"),  # type: ignore[attr-defined]
        fmt,
    )
    return (header + "".join(lines)).encode()


def _encode(families: Iterable[Metric], fmt: Format, memo: LabelMemo | None = None) -> bytes:
    """The families in ``fmt``, byte for byte what prometheus_client's encoders write
    (``generate_latest``, and OpenMetrics' without its closing ``# EOF``: the caller
    ends the whole body with it), without their per-sample name checks; a family
    with anything this does not write is encoded by the library."""
    out: list[str] = []
    for metric in families:
        text = _fast_family(metric, fmt, memo)
        out.append(text if text is not None else _library_encode([metric], fmt).decode())
    return "".join(out).encode()


def _render(
    families: Sequence[Metric], fmt: Format = "text"
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(headers, sample lines) by family name. Line by line: a sample line never starts
    with ``#`` (label values are escaped), so vendor text cannot fake a header."""
    headers: dict[str, list[bytes]] = {}
    samples: dict[str, list[bytes]] = {}
    name = ""
    for line in _encode(families, fmt).splitlines(keepends=True):
        if line.startswith(b"# HELP "):
            name = line[7:].split(b" ", 1)[0].decode()
            headers[name] = [line]
            samples[name] = []
        elif line.startswith(b"# "):
            headers[name].append(line)
        else:
            samples[name].append(line)
    return (
        {k: b"".join(v) for k, v in headers.items()},
        {k: b"".join(v) for k, v in samples.items()},
    )


#: one account's threshold and forecast lines by family name: (the account-wide
#: thresholds, its assets' own thresholds and forecasts)
_AlertChunk = tuple[dict[str, bytes], dict[str, bytes]]


def _same(old: tuple[object, ...], new: tuple[object, ...]) -> bool:
    """Whether two keys hold the same objects (all immutable: the same objects show
    the same series)."""
    return len(old) == len(new) and all(x is y for x, y in zip(old, new, strict=True))


_Body = TypeVar("_Body")
_P = TypeVar("_P", bytes, Packed)


def _unless_busy(lock: threading.Lock, render: Callable[[], _Body], last: _Body | None) -> _Body:
    """``render()`` under ``lock``; while another render holds it, ``last`` (the last
    completed one) rather than wait, unless there is none yet."""
    if lock.acquire(blocking=False):
        try:
            return render()
        finally:
            lock.release()
    if last is not None:
        return last
    with lock:  # nothing rendered yet: wait for it
        return render()


def _by_family(headers: Mapping[str, bytes], *runs: Sequence[Mapping[str, _P]]) -> list[bytes | _P]:
    """Each family's header, then its lines from every chunk of each run, in order
    (the body's pieces, none of them joined)."""
    parts: list[bytes | _P] = []
    for name, header in headers.items():
        parts.append(header)
        for chunks in runs:
            parts.extend(chunk[name] for chunk in chunks if chunk.get(name))
    return parts


#: one (account, family) of the asset families: its state, the actions state (images),
#: its sample lines by family name, by format
#: (its state, the actions state, its sample lines by format: by family name, packed)
_Chunk = tuple[FamilyState, FamilyState | None, dict[Format, dict[str, Packed]]]


def _shown_equal(cached: _Chunk, state: FamilyState, actions: FamilyState | None) -> bool:
    """Whether a family's new state shows what the cached one showed: the same assets,
    anchors and 3D actions (what :meth:`AssetCollector._asset_families` reads of them)."""
    old, old_actions = cached[0], cached[1]
    return (
        old.assets == state.assets
        and old.anchors == state.anchors
        and _actions(old_actions) == _actions(actions)
    )


def _actions(state: FamilyState | None) -> Mapping[str, object]:
    """The 3D actions a state attaches to images (none: empty, as family_assets has it)."""
    return {} if state is None or not state.actions else state.actions


class AssetCollector(Collector):
    """Yields the asset, service, usage and collection-health metrics."""

    def __init__(
        self,
        store: SnapshotStore,
        schedule: ScheduleConfig,
        *,
        clock: Callable[[], datetime],
        account_labels: Mapping[str, Mapping[str, str]] | None = None,
        expose_relative_metrics: bool = False,
        pause: Callable[[], None] = no_pause,
    ) -> None:
        """``pause``: called between the chunks a prerender renders (the daemon's
        :meth:`~monitor.precedence.Precedence.step_aside`: a scrape first)."""
        self._store = store
        self._clock = clock
        self._pause = pause
        self._relative = expose_relative_metrics
        self._account_labels = {k: dict(v) for k, v in (account_labels or {}).items()}
        #: (account, family) -> (its state, the actions state, rendered by format)
        self._chunks: dict[tuple[str, str], _Chunk] = {}
        self._header_cache: dict[Format, dict[str, bytes]] = {}
        #: the health and account families by format: (the states shown, rendered)
        self._health_cache: dict[Format, tuple[tuple[FamilyState, ...], bytes]] = {}
        #: the state families' sample lines of each account, by format (and their
        #: headers): an account's are rendered again when one of its states changed
        self._health_chunks: dict[
            str, tuple[tuple[FamilyState, ...], dict[Format, dict[str, bytes]]]
        ] = {}
        self._health_headers: dict[Format, dict[str, bytes]] = {}
        #: one render at a time (a scrape's or a landing family's): it guards the caches
        self._lock = threading.Lock()
        #: the last completed render by format: (the per-asset parts, health and
        #: accounts); what a scrape serves while another render is in progress
        self._last: dict[Format, tuple[list[Piece], bytes]] = {}
        #: the chunks the last render's per-asset pieces were listed from, by format
        self._assembled: dict[Format, tuple[dict[str, Packed], ...]] = {}
        #: the formats scrapes asked for: rendered again when a family lands
        self._formats: set[Format] = set()
        self._cached = {
            kind: (
                f" Cached; refreshed every {_every(schedule.interval(family))} by the {family} job."
            )
            for kind, family in {**_FAMILY_OF_KIND, "action": "actions"}.items()
        }

    def set_account_labels(self, account_labels: Mapping[str, Mapping[str, str]]) -> None:
        """The accounts' labels after a reload (``ivh_account_info``)."""
        self._account_labels = {k: dict(v) for k, v in account_labels.items()}

    def describe(self) -> Iterator[Metric]:
        # Registering must not trigger a collection; names are checked on scrape.
        return iter(())

    def collect(self) -> Iterator[Metric]:
        snap = self._store.current
        now = self._clock()
        assets = snap.assets(now)
        yield from self._asset_families(assets, snap.anchors(now))
        if self._relative:
            yield self._expires_in(assets, now)
        yield from self._health(snap)
        yield from self._accounts(snap.accounts)

    def render_parts(self, fmt: Format = "text") -> list[bytes]:
        """:meth:`render_pieces`, every piece plain."""
        return [unpack(piece) for piece in self.render_pieces(fmt)]

    def render_pieces(self, fmt: Format = "text") -> list[Piece]:
        """The exposition of :meth:`collect` in ``fmt`` (text 0.0.4, or OpenMetrics
        without its ``# EOF``) in pieces, fast for big snapshots (joined once, with
        whatever follows, by :class:`ExpositionRegistry`). The per-asset lines are
        :class:`~monitor.packed.Packed` (kept deflated: ~a tenth of their RSS).

        The per-asset families of each (account, family) are rendered once per
        collection of that family (and format) that changed what it shows (its
        assets, anchors, 3D actions) and cached, most often when the family lands
        (:meth:`prerender`); a scrape assembles the cached lines and renders only
        what changes with the clock (relative expiry). A scrape never waits for a
        render in progress: it serves the last completed one (at most one landing
        family old) unless there is none yet.
        """
        self._formats.add(fmt)
        body = _unless_busy(self._lock, lambda: self._assemble(fmt), self._last.get(fmt))
        parts: list[Piece] = list(body[0])
        if self._relative:  # moves with the clock: rendered every scrape
            snap, now = self._store.current, self._clock()
            parts.append(_encode([self._expires_in(snap.assets(now), now)], fmt))
        parts.append(body[1])
        return parts

    def prerender(self, landed: Iterable[tuple[str, str]] | None = None) -> None:
        """Render the per-asset lines of the families that landed (``(account,
        family)``; all that changed in the current snapshot if not told), in every
        format scraped so far (off the loop, when a family has landed), so the next
        scrape only assembles them. The health families, which show every family's
        state at once, are left to the scrape (rendered there by account, only when a
        state changed)."""
        if landed is not None:
            # the actions of 3D images are shown on the images' lines
            shown = {
                (account, "images" if family == "actions" else family)
                for account, family in landed
                if family in ("services", "timbres", "images", "actions")
            }
        for fmt in tuple(self._formats):
            with self._lock:
                snap, now = self._store.current, self._clock()
                # under the lock: a scrape meanwhile serves the last render whole (at
                # most a landing old) rather than render a chunk itself; with none to
                # serve yet, it waits for the lock, and nothing pauses for it then
                pause = self._pause if fmt in self._last else no_pause
                if landed is None:
                    pause()
                    self._chunks_of(snap, now, fmt)
                    continue
                for account, family in shown:
                    pause()
                    self._chunk(snap, now, account, family, fmt)  # type: ignore[arg-type]

    def _assemble(self, fmt: Format) -> tuple[list[Piece], bytes]:
        """The current snapshot's per-asset parts and health in ``fmt``, rendering what
        the caches lack; kept as the last completed render. Under ``_lock``."""
        snap = self._store.current
        chunks = self._chunks_of(snap, self._clock(), fmt)
        last = self._last.get(fmt)
        parts: list[Piece]
        if last is not None and _same(self._assembled.get(fmt, ()), tuple(chunks)):
            parts = last[0]  # the same chunks: the same pieces, not listed again
        else:
            parts = list(_by_family(self._headers(fmt), chunks))
            self._assembled[fmt] = tuple(chunks)
        body = (parts, self._health_text(snap, fmt))
        self._last[fmt] = body
        return body

    def _chunks_of(self, snap: Snapshot, now: datetime, fmt: Format) -> list[dict[str, Packed]]:
        """The per-asset sample lines of each usable (account, family) in ``fmt``,
        rendering the ones the cache lacks. Under ``_lock``."""
        chunks: list[dict[str, Packed]] = []
        live: dict[tuple[str, str], _Chunk] = {}
        for account in snap.accounts:
            for family in ("services", "timbres", "images"):
                cached = self._chunk(snap, now, account, family, fmt)
                if cached is not None:
                    live[(account, family)] = cached
                    chunks.append(cached[2][fmt])
        self._chunks = live
        return chunks

    def _chunk(
        self, snap: Snapshot, now: datetime, account: str, family: Family, fmt: Format
    ) -> _Chunk | None:
        """One usable (account, family)'s cached lines, rendered in ``fmt`` if the cache
        lacks them (and kept); ``None`` if it shows nothing. Under ``_lock``."""
        state = snap.usable(account, family, now)
        if state is None:
            return None
        actions = snap.usable(account, "actions", now) if family == "images" else None
        key = (account, family)
        cached = self._chunks.get(key)
        if cached is None or cached[0] is not state or cached[1] is not actions:
            # a new collection; what it found is most often what the one before
            # found: then its lines are the same, kept, not rendered again
            same = cached is not None and _shown_equal(cached, state, actions)
            cached = (state, actions, cached[2] if same and cached is not None else {})
            self._chunks[key] = cached
        if fmt not in cached[2]:
            assets = snap.family_assets(account, family, now)
            anchors = state.anchors if family == "images" else ()
            lines = _render(self._asset_families(assets, anchors), fmt)[1]
            # kept deflated (a tenth of the RSS), served so to gzip scrapes
            cached[2][fmt] = {name: pack(text) for name, text in lines.items() if text}
        return cached

    def _health_text(self, snap: Snapshot, fmt: Format) -> bytes:
        """The health and account families: they show the family states alone, so they
        are rendered again only when a state is another object than last time (an idle
        scrape of many accounts renders none of them)."""
        states = tuple(snap.states())
        cached = self._health_cache.get(fmt)
        if cached is not None and _same(cached[0], states):
            return cached[1]
        # by account: a landing family re-renders its account's lines only (at 100
        # accounts, 400 states: most of a scrape's CPU while a cycle lands)
        chunks: list[dict[str, bytes]] = []
        live: dict[str, tuple[tuple[FamilyState, ...], dict[Format, dict[str, bytes]]]] = {}
        for account, run in itertools.groupby(states, key=lambda state: state.account):
            mine = tuple(run)
            hit = self._health_chunks.get(account)
            if hit is None or not _same(hit[0], mine):
                hit = (mine, {})
            if fmt not in hit[1]:
                hit[1][fmt] = _render(list(self._state_families(mine)), fmt)[1]
            live[account] = hit
            chunks.append(hit[1][fmt])
        self._health_chunks = live
        if fmt not in self._health_headers:
            self._health_headers[fmt] = _render(list(self._state_families(())), fmt)[0]
        pieces = _by_family(self._health_headers[fmt], chunks)
        pieces.append(_encode([self._enabled(snap), *self._accounts(snap.accounts)], fmt))
        text = b"".join(pieces)
        self._health_cache[fmt] = (states, text)
        return text

    def _headers(self, fmt: Format) -> dict[str, bytes]:
        """``# HELP``/``# TYPE`` of each per-asset family, in order (they never change)."""
        if fmt not in self._header_cache:
            self._header_cache[fmt] = _render(self._asset_families([], ()), fmt)[0]
        return self._header_cache[fmt]

    def _expires_in(self, assets: Sequence[Asset], now: datetime) -> Metric:
        family = GaugeMetricFamily(
            "ivh_asset_expires_in_seconds",
            "Seconds until the asset expires, computed at scrape time (negative once expired).",
            labels=["account", "kind", "asset"],
        )
        for a in assets:
            if a.expires_at is not None:
                family.add_metric([a.account, a.kind, a.id], (a.expires_at - now).total_seconds())
        return family

    def _asset_families(self, assets: Sequence[Asset], anchors: Sequence[Anchor]) -> list[Metric]:
        """The per-asset families, then the anchors', in exposition order."""
        any_job = " Cached; refreshed by the job of the asset's family."
        info, expiry, unknown = (
            spec.family(any_job) for spec in (_ASSET_INFO, _ASSET_EXPIRY, _ASSET_EXPIRY_UNKNOWN)
        )
        figures = [
            (spec.family(self._cached[job]), kind, value)
            for spec, kind, job, value in _KIND_METRICS
        ]
        of_kind = {k: [(f, v) for f, kind, v in figures if kind == k] for k in _FAMILY_OF_KIND}
        start = _ASSET_START.family(any_job)
        avatar_types = _TIMBRE_AVATAR_TYPE.family(self._cached["timbre"])
        for a in assets:
            info.add_metric([a.account, a.kind, a.id, a.name, a.type, a.purchase_type or ""], 1.0)
            if a.starts_at is not None:
                start.add_metric([a.account, a.kind, a.id], a.starts_at.timestamp())
            if a.expires_at is not None:
                expiry.add_metric([a.account, a.kind, a.id], a.expires_at.timestamp())
            elif a.expiry_unknown:
                unknown.add_metric([a.account, a.kind, a.id], 1.0)
            own = (
                [a.account, a.id, a.type, a.category or "unknown"]
                if a.kind == "service"
                else [a.account, a.id]
            )
            for family, value in of_kind.get(a.kind, ()):
                if (figure := value(a)) is not None:
                    family.add_metric(own, float(figure))
            for code in a.avatar_types:
                avatar_types.add_metric([a.account, a.id, code], 1.0)
        anchor_info = _ANCHOR_INFO.family(self._cached["image"])
        anchor_images = _ANCHOR_IMAGES.family(self._cached["image"])
        for anchor in anchors:
            anchor_info.add_metric([anchor.account, anchor.code, anchor.name, anchor.type], 1.0)
            anchor_images.add_metric([anchor.account, anchor.code], float(len(anchor.image_ids)))
        figured = (f for f, _, _ in figures)
        return [info, expiry, unknown, *figured, start, avatar_types, anchor_info, anchor_images]

    def _health(self, snap: Snapshot) -> Iterator[Metric]:
        yield from self._state_families(snap.states())
        yield self._enabled(snap)

    def _enabled(self, snap: Snapshot) -> Metric:
        enabled = _COLLECTOR_ENABLED.family()
        for name in FAMILIES:
            enabled.add_metric([name], 0.0 if name in snap.disabled else 1.0)
        return enabled

    def _state_families(self, states: Iterable[FamilyState]) -> Iterator[Metric]:
        """The families that show each family state, in exposition order."""
        families = [(spec.family(), shown, value) for spec, shown, value in _HEALTH_METRICS]
        anomalies = _RECORD_ANOMALIES.family()
        for state in states:
            key = [state.account, state.family]
            for family, shown, value in families:
                if state.attempted if shown == "attempt" else state.last_success is not None:
                    family.add_metric(key, value(state))
            if state.last_success is not None:
                for reason in ANOMALY_REASONS[state.family]:
                    anomalies.add_metric([*key, reason], float(state.anomalies.get(reason, 0)))
        yield from (family for family, _, _ in families)
        yield anomalies

    def _accounts(self, accounts: tuple[str, ...]) -> Iterator[Metric]:
        keys = sorted({k for labels in self._account_labels.values() for k in labels})
        account_info = GaugeMetricFamily(
            "ivh_account_info",
            "A watched account with its labels from config (always 1); join on account.",
            labels=["account", *keys],
        )
        for account in accounts:
            extra = self._account_labels.get(account, {})
            account_info.add_metric([account, *(extra.get(k, "") for k in keys)], 1.0)
        yield account_info


class DaemonMetrics:
    """The daemon's own work: API calls and collection errors, on a given registry."""

    _OUTCOMES = ("success",)

    def __init__(
        self, registry: CollectorRegistry, accounts: list[str], channels: Sequence[str] = ()
    ) -> None:
        self.api_requests = Counter(
            "ivh_api_requests",
            "Calls to the IVH gateway, by outcome (success, transport_error, deadline, http_error,"
            " api_error, rate_limited, auth_error, parse_error); retries count each attempt.",
            ["account", "endpoint", "outcome"],
            registry=registry,
        )
        self.api_duration = Histogram(
            "ivh_api_request_duration_seconds",
            "Latency of calls to the IVH gateway.",
            ["endpoint"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.clock_skew = Gauge(
            "ivh_gateway_clock_skew_seconds",
            "How far our clock is ahead of the gateway's (from its Date header). Beyond"
            " +-300 s the gateway refuses signatures: fix NTP.",
            ["account"],
            registry=registry,
        )
        self.collection_errors = Counter(
            "ivh_collection_errors",
            "Collections of a family that failed, by reason: transport, deadline (no whole"
            " answer in time, or the job past its deadline), http_status, api, auth, parse,"
            " incomplete (rows of a listing not adding up to its Total), internal.",
            ["account", "family", "reason"],
            registry=registry,
        )
        self.runs_skipped = Counter(
            "ivh_collection_runs_skipped",
            "Scheduled collections not run: still_running (the previous run of the job had"
            " not finished) or missed (the loop was too busy to start it in time).",
            ["account", "family", "reason"],
            registry=registry,
        )
        self.notifications = Counter(
            "ivh_notifications",
            "Notification delivery attempts by outcome: delivered, retry (will be retried),"
            " permanent (refused for good), dead (given up: dead-lettered).",
            ["channel", "outcome"],
            registry=registry,
        )
        build = Info("ivh_build", "Version of ivh-monitor.", registry=registry)
        build.info({"version": __version__})
        for account in accounts:
            for endpoint in ENDPOINT_NAMES:
                for outcome in self._OUTCOMES:
                    self.api_requests.labels(account, endpoint, outcome)
        for endpoint in ENDPOINT_NAMES:
            self.api_duration.labels(endpoint)
        for channel in channels:
            for outcome in ("delivered", "retry", "permanent", "dead"):
                self.notifications.labels(channel, outcome)

    def observer(self, account: str) -> Callable[[str, str, float], None]:
        def observe(endpoint: str, outcome: str, seconds: float) -> None:
            self.api_requests.labels(account, endpoint, outcome).inc()
            self.api_duration.labels(endpoint).observe(seconds)

        return observe


# What the alert collector reads, as small protocols: the concrete classes
# (alerts.engine.AlertEngine, alerts.dispatch.Dispatcher, alerts.store.StateStore)
# are wired in daemon.py, so exposition does not depend on the alerting machinery.


class FiringAlert(Protocol):
    """One firing alert, as far as the ``ivh_alerts_firing`` gauge goes."""

    @property
    def rule(self) -> str: ...
    @property
    def severity(self) -> str: ...


class StoreHealth(Protocol):
    """The state store's health counters."""

    @property
    def healthy(self) -> bool: ...
    @property
    def errors(self) -> int: ...
    @property
    def losses(self) -> int: ...
    @property
    def lost_notifications(self) -> int: ...


class AlertState(Protocol):
    """The alert engine's state: firing alerts, forecasts, failures, config, store."""

    @property
    def config(self) -> AlertsConfig: ...
    @property
    def store(self) -> StoreHealth: ...
    @property
    def firing(self) -> Mapping[str, FiringAlert]: ...
    @property
    def forecasts(self) -> Mapping[tuple[str, str], Forecast]: ...
    @property
    def evaluation_errors(self) -> Mapping[str, int]: ...


class NotificationQueue(Protocol):
    """The outbox, as far as its depth goes."""

    @property
    def queue_depth(self) -> int: ...


class AlertCollector(Collector):
    """Alert state, effective thresholds and hour-package forecasts."""

    def __init__(
        self,
        store: SnapshotStore,
        engine: AlertState,
        dispatcher: NotificationQueue,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._engine = engine
        self._dispatcher = dispatcher
        self._clock = clock
        #: by account: (what its threshold and forecast lines show, their lines by
        #: format, family name): rendered again when one of those changed (its states,
        #: its forecasts, the config), so a landing or an evaluation re-renders its
        #: account's lines only; the text only, not the families (one Sample per asset
        #: and figure: at 10k assets with forecasts, several MB kept for nothing)
        self._chunks: dict[str, tuple[tuple[object, ...], dict[Format, _AlertChunk]]] = {}
        #: the forecasts mapping last grouped by account, and that grouping
        self._grouped: tuple[object, dict[str, tuple[Forecast, ...]]] = (None, {})
        #: ``# HELP``/``# TYPE`` of the per-asset families by format, in order
        self._headers: dict[Format, dict[str, bytes]] = {}
        #: by format: (what the whole part showed, its pieces): the last completed one,
        #: which a scrape reuses while nothing changed, or while another render runs
        self._last: dict[Format, tuple[dict[str, tuple[object, ...]], list[bytes]]] = {}
        #: one render of the per-asset families at a time (concurrent scrapes')
        self._lock = threading.Lock()

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        yield from self._state()
        yield from self._families(self._store.current, self._clock())

    def render_exposition(self, fmt: Format = "text") -> bytes:
        """:meth:`collect` in ``fmt``."""
        return b"".join(self.render_parts(fmt))

    def render_parts(self, fmt: Format = "text") -> list[bytes]:
        """:meth:`collect` in ``fmt``, in pieces; the per-asset families (thresholds and
        forecasts) are cached by account, each rendered again only when what it shows
        changed, and their pieces assembled once per change. While another scrape's
        render of them is in progress, a scrape serves the last completed one rather
        than wait."""
        last = self._last.get(fmt)
        rendered = _unless_busy(
            self._lock, lambda: self._rendered(fmt), None if last is None else last[1]
        )
        return [_encode(self._state(), fmt), *rendered]

    def _rendered(self, fmt: Format) -> list[bytes]:
        """The per-asset families of the current snapshot in ``fmt``, in pieces. Under
        ``_lock``."""
        snap = self._store.current
        now = self._clock()
        config = self._engine.config
        forecasts = self._engine.forecasts
        if self._grouped[0] is not forecasts:
            by_account: dict[str, list[Forecast]] = {}
            for (account, _), fc in forecasts.items():
                by_account.setdefault(account, []).append(fc)
            self._grouped = (forecasts, {a: tuple(f) for a, f in by_account.items()})
        grouped = self._grouped[1]
        keys: dict[str, tuple[object, ...]] = {
            account: (
                config,
                *(snap.usable(account, f, now) for f in FAMILIES),
                *grouped.get(account, ()),
            )
            for account in snap.accounts
        }
        last = self._last.get(fmt)
        if (
            last is not None
            and len(last[0]) == len(keys)
            and all(
                a == b and _same(old, new)
                for (a, old), (b, new) in zip(last[0].items(), keys.items(), strict=True)
            )
        ):
            return last[1]
        chunks: list[_AlertChunk] = []
        live: dict[str, tuple[tuple[object, ...], dict[Format, _AlertChunk]]] = {}
        for account, key in keys.items():
            hit = self._chunks.get(account)
            if hit is None or not _same(hit[0], key):
                hit = (key, {})
            if fmt not in hit[1]:
                assets = [
                    a
                    for f in ("services", "timbres", "images")
                    for a in snap.family_assets(account, f, now)
                ]
                wide = _render(list(self._thresholds((account,), ())), fmt)[1]
                mine = _render(
                    [
                        *self._thresholds((account,), assets, wide_lines=False),
                        *self._forecasts(assets),
                    ],
                    fmt,
                )[1]
                hit[1][fmt] = (wide, mine)
            live[account] = hit
            chunks.append(hit[1][fmt])
        self._chunks = live
        if fmt not in self._headers:
            self._headers[fmt] = _render(self._families(snap, now, accounts=()), fmt)[0]
        parts = _by_family(
            self._headers[fmt], [wide for wide, _ in chunks], [mine for _, mine in chunks]
        )
        self._last[fmt] = (keys, parts)
        return parts

    def _families(
        self, snap: Snapshot, now: datetime, accounts: Sequence[str] | None = None
    ) -> list[Metric]:
        assets = snap.assets(now) if accounts is None else []
        shown = snap.accounts if accounts is None else accounts
        return [*self._thresholds(shown, assets), *self._forecasts(assets)]

    def _state(self) -> Iterator[Metric]:
        firing = GaugeMetricFamily(
            "ivh_alerts_firing",
            "Alerts firing now in ivh-monitor's own alerting, by rule and severity.",
            labels=["rule", "severity"],
        )
        counts = dict.fromkeys(((r, s) for r in RULE_NAMES for s in ("warning", "critical")), 0)
        for alert in self._engine.firing.values():
            key = (alert.rule, alert.severity)
            counts[key] = counts.get(key, 0) + 1
        for (rule, severity), n in sorted(counts.items()):
            firing.add_metric([rule, severity], float(n))
        yield firing
        yield GaugeMetricFamily(
            "ivh_notification_queue_depth",
            "Notifications waiting in the outbox for delivery (including retries).",
            value=float(self._dispatcher.queue_depth),
        )
        state = self._engine.store
        yield GaugeMetricFamily(
            "ivh_state_store_up",
            "Whether the last operation on the state store (state_dir, SQLite) succeeded;"
            " while 0, alert evaluation and delivery wait and retry.",
            value=1.0 if state.healthy else 0.0,
        )
        yield CounterMetricFamily(
            "ivh_state_store_errors",
            "Failed operations on the state store (unwritable, full, corrupt).",
            value=float(state.errors),
        )
        errors = CounterMetricFamily(
            "ivh_alert_evaluation_errors",
            "Alert rules that raised on an asset (rule), forecasts that failed (forecast) and"
            " account evaluations that failed as a whole (evaluation); see the log event"
            " alert.rule_failed. The other rules and assets are still evaluated.",
            labels=["rule"],
        )
        for rule, n in self._engine.evaluation_errors.items():
            errors.add_metric([rule], float(n))
        yield errors
        yield CounterMetricFamily(
            "ivh_state_store_losses",
            "Times the state file (or its -wal/-shm) was found deleted or replaced while"
            " the daemon ran; each time it is recreated (log event state.lost).",
            value=float(state.losses),
        )
        yield CounterMetricFamily(
            "ivh_state_store_lost_notifications",
            "Pending notifications lost with a state file that could not be salvaged.",
            value=float(state.lost_notifications),
        )

    def _thresholds(
        self, accounts: Sequence[str], assets: Sequence[Asset], *, wide_lines: bool = True
    ) -> Iterator[Metric]:
        """The threshold families: the accounts' and kinds' thresholds (with
        ``wide_lines``), then the assets' own where they differ (of ``accounts``)."""
        config = self._engine.config
        labels = ["account", "kind", "asset", "rule", "severity"]
        seconds = GaugeMetricFamily(
            "ivh_alert_threshold_seconds",
            "Effective expiry thresholds of the 'expiring' rule (asset=\"\" for the account"
            " and kind as a whole; a series per asset where an override differs). Prometheus"
            " rules compare ivh_asset_expiry_timestamp_seconds - time() against it.",
            labels=labels,
        )
        ratio = GaugeMetricFamily(
            "ivh_alert_threshold_ratio",
            "Effective 'hours_low' thresholds: remaining / ordered below which it fires.",
            labels=labels,
        )

        def emit(rule: str, account: str, kind: str, asset: str, t: RuleThresholds) -> None:
            if not t.enabled:
                return
            for sev in ("warning", "critical"):
                if rule == "expiring" and (value := t.seconds(sev)) is not None:
                    seconds.add_metric([account, kind, asset, rule, sev], value)
                limit = t.critical_ratio if sev == "critical" else t.warning_ratio
                if rule == "hours_low" and limit is not None:
                    ratio.add_metric([account, kind, asset, rule, sev], limit)

        wide: dict[tuple[str, str, str], RuleThresholds] = {}
        for account in accounts:
            for kind in ("service", "timbre", "image"):
                for rule in ("expiring", "hours_low"):
                    if rule == "hours_low" and kind != "service":
                        continue
                    t = thresholds_for(config, rule, account=account, kind=kind, asset="")
                    wide[(rule, account, kind)] = t
                    if wide_lines:
                        emit(rule, account, kind, "", t)
        rules = [r for r in ("expiring", "hours_low") if asset_specific_overrides(config, r)]
        for a in assets if rules else ():
            for rule in rules:
                if rule == "hours_low" and a.category != "hours":
                    continue
                mine = thresholds_for(
                    config,
                    rule,
                    account=a.account,
                    kind=a.kind,
                    asset=a.id,
                    service_type=a.type if a.kind == "service" else None,
                )
                if mine != wide.get((rule, a.account, a.kind)):
                    emit(rule, a.account, a.kind, a.id, mine)
        yield seconds
        yield ratio

    def _forecasts(self, assets: Sequence[Asset]) -> Iterator[Metric]:
        info = _FORECAST_INFO.family()
        families = [(spec.family(), value) for spec, value in _FORECAST_METRICS]
        forecasts = self._engine.forecasts
        for a in assets:
            fc = forecasts.get((a.account, a.id)) if a.kind == "service" else None
            if fc is None:
                continue
            key = [a.account, a.id, a.type, a.category or "unknown"]
            info.add_metric([*key, fc.model], 1.0)
            for family, value in families:
                if (figure := value(fc)) is not None:
                    family.add_metric(key, figure)
        yield info
        yield from (family for family, _ in families)


class ExpositionRegistry(CollectorRegistry):
    """The daemon's registry: the asset collector plus everything registered on it.

    ``collect()`` yields it all (for any prometheus-client consumer); the
    ``/metrics`` handler uses :meth:`render_text`, which takes the asset part
    from the collector's per-family cache and renders only the rest.
    """

    def __init__(self, assets: AssetCollector) -> None:
        super().__init__()
        self._assets = assets
        #: the live families' label sets, rendered once
        self._memo = LabelMemo()

    def collect(self) -> Iterator[Metric]:
        yield from self._assets.collect()
        yield from super().collect()

    def render_text(self) -> bytes:
        return b"".join(self.render_parts())

    def render_parts(self, fmt: Format = "text") -> list[bytes]:
        """:meth:`render_pieces`, every piece plain."""
        return [unpack(piece) for piece in self.render_pieces(fmt)]

    def render_pieces(self, fmt: Format = "text") -> list[Piece]:
        """:meth:`render_text` (or the OpenMetrics body) in pieces, the per-asset ones
        packed (the server streams them or gzips them as they are: at 10k assets the
        body is ~8.6 MB, and every copy of it is RSS). A collector with its own
        ``render_parts`` (the alert collector's cache) renders itself."""
        with self._lock:
            collectors = list(self._collector_to_names)
        rest: list[bytes] = []
        for c in collectors:
            if (own := getattr(c, "render_parts", None)) is not None:
                rest.extend(own(fmt))
            elif (counter := _encode_counter(c, fmt, self._memo)) is not None:
                rest.append(counter)
            else:  # what generate_latest renders of the registry, collector by collector
                rest.append(_encode(c.collect(), fmt, self._memo))
        parts: list[Piece] = [*self._assets.render_pieces(fmt), *rest]
        if fmt == "openmetrics":
            parts.append(_EOF)
        return parts

    def prerender(self, landed: Iterable[tuple[str, str]] | None = None) -> None:
        """Render the per-asset lines the landing families changed (the asset
        collector's :meth:`AssetCollector.prerender`), in the formats scraped so far."""
        self._assets.prerender(landed)


class Prerenderer:
    """One thread that runs ``render`` after changes (:meth:`changed`), one run for any
    number of changes that came while it was busy, given what they named (``None`` if
    one of them named nothing: everything).

    :meth:`changed` returns a future done once a run that began after the call has
    ended (never with an error: a failing run is logged as
    ``exposition.prerender_failed``, and the scrape renders for itself).
    """

    def __init__(self, render: Callable[[set[tuple[str, str]] | None], None]) -> None:
        self._render = render
        self._wake = threading.Condition()
        self._asked = 0  # changes announced
        #: what the changes announced since the last run named (``None``: everything)
        self._named: set[tuple[str, str]] | None = set()
        self._waiting: list[tuple[int, concurrent.futures.Future[None]]] = []
        self._closed = False
        self._thread: threading.Thread | None = None

    def changed(self, what: tuple[str, str] | None = None) -> concurrent.futures.Future[None]:
        """Announce a change (of ``what``, an ``(account, family)``; of anything if not
        told)."""
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._wake:
            if self._closed:
                done.set_result(None)
                return done
            self._asked += 1
            if what is None:
                self._named = None
            elif self._named is not None:
                self._named.add(what)
            self._waiting.append((self._asked, done))
            if self._thread is None:
                # a daemon thread as a safety net only: close() ends it
                self._thread = threading.Thread(target=self._run, name="ivh-prerender", daemon=True)
                self._thread.start()
            self._wake.notify()
        return done

    def close(self) -> None:
        """End the thread after the run in progress (from any thread but its own)."""
        with self._wake:
            self._closed = True
            thread = self._thread
            self._wake.notify()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        done = 0
        while True:
            with self._wake:
                while self._asked == done and not self._closed:
                    self._wake.wait()
                if self._closed:
                    waiting, self._waiting = self._waiting, []
                    break
                target = self._asked
                named, self._named = self._named, set()
            try:
                self._render(named)
            except Exception:
                log.exception("exposition.prerender_failed")
            done = target
            with self._wake:
                ready = [f for asked, f in self._waiting if asked <= done]
                self._waiting = [(a, f) for a, f in self._waiting if a > done]
            for future in ready:
                if future.set_running_or_notify_cancel():  # its waiter may have gone
                    future.set_result(None)
        for _, future in waiting:
            if future.set_running_or_notify_cancel():
                future.set_result(None)
