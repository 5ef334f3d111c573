"""Hypothesis strategies shared by the property tests: JSON and hostile values,
mutations of the vendor's documented records (tests/fixtures), and names that try
to be markup. One place, so every fuzz test draws from the same hostile world."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from pydantic import AliasChoices

from monitor.vendor import (
    Action,
    AnchorRecord,
    ImageAsset,
    ServiceAsset,
    SmallSampleImage,
    TimbreAsset,
    _Vendor,
)
from tests.conftest import vendor_example

#: the fuzz tests' common settings
FUZZ = settings(
    deadline=None,
    max_examples=100,
    # records are built from the vendor's examples, so many draws look alike
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: placed in values; a problem's reason must never contain it
MARK = "zqMARKqz"

#: (endpoint, list field, model): the vendor's documented examples (tests/fixtures)
_ENDPOINTS: list[tuple[str, str, type[_Vendor]]] = [
    ("getserviceasset", "ServiceAssetInfos", ServiceAsset),
    ("describetimbre", "TimbreAssets", TimbreAsset),
    ("getanchor", "Virtualmans", AnchorRecord),
    ("getimagebyanchor", "Virtualmans", ImageAsset),
    ("describesmallsampleimage", "Virtualmans", SmallSampleImage),
    ("getaction", "Actions", Action),
]
EXAMPLES: dict[type[_Vendor], list[dict[str, Any]]] = {
    model: vendor_example(endpoint)["Payload"][field] for endpoint, field, model in _ENDPOINTS
}
MODELS = list(EXAMPLES)


def known_names(model: type[_Vendor]) -> set[str]:
    """Every name a model reads: field names (populate_by_name), aliases, alias choices."""
    names: set[str] = {"specific"}
    for name, info in model.model_fields.items():
        names.add(name)
        if info.alias:
            names.add(info.alias)
        if isinstance(info.validation_alias, AliasChoices):
            names.update(str(c) for c in info.validation_alias.choices)
        elif isinstance(info.validation_alias, str):
            names.add(info.validation_alias)
    return names


# -- strategies ----------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)  # Python's json accepts NaN/Infinity
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)

marked_text = st.text(max_size=12).map(lambda t: f"{t}{MARK}{t}")
odd_dates = st.sampled_from(
    [
        "",
        " ",
        "0000-00-00 00:00:00",
        "2024-02-30 00:00:00",
        "2024-13-01 00:00:00",
        "9999-12-31 23:59:59",
        "0001-01-01 00:00:00",
        "2024-01-01T00:00:00Z",
        "2024-01-01 24:00:00",
        "1699944584000",
        "2024年1月1日",
        "+30d",
        "NaN",
    ]
) | marked_text.map(lambda t: f"2024-01-01 {t}")
hostile_scalars = (
    json_scalars
    | marked_text
    | odd_dates
    | st.integers(min_value=2**63 - 2, max_value=10**400)  # beyond int64, absurd
    | st.integers(min_value=-(10**30), max_value=-1)
    | st.sampled_from(["1e400", "-0", "0x10", " 12 ", "١٢٣", "\ud800", "\x00", "∞"])
)
hostile = st.recursive(
    hostile_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def mutated_record(draw: st.DrawFn, model: type[_Vendor]) -> Any:
    """A vendor example with fields dropped, retyped, wrapped in arrays, or added."""
    record: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(EXAMPLES[model])))
    fields = sorted(known_names(model) | set(record) | {"UniversalHourInfoDetail", "XInfoDetail"})
    for _ in range(draw(st.integers(0, 5))):
        op = draw(st.sampled_from(["drop", "set", "wrap", "nest", "add"]))
        key = draw(st.sampled_from(fields))
        if op == "drop":
            record.pop(key, None)
        elif op == "set":
            record[key] = draw(hostile)
        elif op == "wrap":  # §4.1: arrays where objects belong, and the reverse
            record[key] = [record.get(key)]
        elif op == "nest":
            record[key] = {"OrderMilliseconds": draw(hostile), "RemainMilliseconds": draw(hostile)}
        else:
            record[draw(st.text(max_size=10))] = draw(hostile)
    return draw(st.sampled_from([record, record, record, draw(hostile)]))


def pages_of(model: type[_Vendor]) -> st.SearchStrategy[list[Any]]:
    return st.lists(mutated_record(model), max_size=6)


# -- names that try to be markup ----------------------------------------------------

_TEMPLATES = (
    "{}",
    "[bold]{}[/bold]",
    "[/bold] {}",
    "[link=https://evil.example/]{}[/link]",
    "**{}** _{}_ `{}`",
    "[{}](https://evil.example/)",
    "<https://evil.example/|{}>",
    "<a href='https://evil.example/'>{}</a>",
    "<script>{}</script><img src=x onerror=alert(1)>",
    "\x1b]8;;https://evil.example/\x07{}\x1b]8;;\x07",
    "\x1b[31m{}\x1b[0m\x9b2J",
    "\u202e{}\u202c \u2066{}\u2069",
    "{}\n{}\r\n{}\u2028{}\u2029\x85{}",
    ":smile: {} @all <at user_id='all'></at> <!channel>",
    "{}\u200b\ufeff\u2060{}",
    "&lt;{}&gt; &amp;",
    "👨‍👩‍👧 {}\u0301\u20dd 𝔘𝔫𝔦",
    "\x00\x07\x08\x7f{}\x1e\x1f",
)
_piece = st.text(st.characters(codec="utf-8"), max_size=12)  # every category but Cs
#: asset names and ids: rich markup, Markdown, HTML, terminal escapes, line breaks,
#: bidi marks, zero-width and astral characters, combining marks, very long strings
hostile_names = st.one_of(
    st.builds(
        lambda t, parts: t.format(*parts),
        st.sampled_from(_TEMPLATES),
        st.lists(_piece, min_size=5, max_size=5),
    ),
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.builds(lambda p, n: (p or "长") * n, _piece, st.integers(50, 400)),  # very long
)

_TOKENS = [
    *"[]()<>!*_~`#-+=.@&;\\|/:{}$ aZ09",
    *["\n", "\r", "\t", "\x1b", "\x00", "\x85", "\u2028", "\u2029", "\u202e", "\u2066"],
    *["所有人", "http://evil.example/", "<at id=all>", "<!channel>", "&lt;", "&#42;", "@all"],
    *["<font color=red>", "</font>", "<@u1>", "```", "**", "__", "~~", "1. ", "- ", "> "],
]
#: names built of the characters and tokens each chat channel's markup is made of
markup_names = st.lists(st.sampled_from(_TOKENS), max_size=30).map(lambda t: "".join(t) + "z")
