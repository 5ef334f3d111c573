"""monitor.text: outside text made inert for terminals, chat lines and JSON."""

from __future__ import annotations

import json
import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.text import UNSAFE, json_text, one_line, printable


def test_unsafe_is_exactly_the_control_format_surrogate_and_separator_characters() -> None:
    """Checked against this Python's Unicode database: a newer one that adds
    format characters fails here, and the class in monitor/text.py is extended."""
    kept = {"\u200c", "\u200d"}  # ZWNJ, ZWJ: scripts and emoji sequences need them
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        unsafe = unicodedata.category(char) in {"Cc", "Cf", "Cs", "Zl", "Zp"} and char not in kept
        assert (UNSAFE.fullmatch(char) is not None) == unsafe, hex(code)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("[/bold] 促销", "[/bold] 促销"),  # markup is rich's business: callers pass Text
        ("\x1b[31mred\x1b[0m", r"\x1b[31mred\x1b[0m"),
        ("\x1b]8;;https://evil.example/\x07x", r"\x1b]8;;https://evil.example/\x07x"),
        ("\u202eevil\u2066", r"\u202eevil\u2066"),
        ("a\nb\r\tc", r"a\nb\r\tc"),
        ("\x85\x9b\x7f", r"\x85\x9b\x7f"),
        ("\u2028\u2029\u200b\ufeff", r"\u2028\u2029\u200b\ufeff"),
        ("\U000e0041\ud800", r"\U000e0041\ud800"),
        ("👨\u200d👩\u200d👧 e\u0301 𝔘 \u3000", "👨\u200d👩\u200d👧 e\u0301 𝔘 \u3000"),
    ],
)
def test_printable_shows_each_unsafe_character_as_an_escape(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_one_line_turns_line_breaks_into_one_space() -> None:
    assert one_line("line one\r\n\nline two\u2028three\x85four") == "line one line two three four"
    assert one_line("a\x1e\x1fb\x1b") == r"a \x1fb\x1b"  # \x1e is a record separator
    assert one_line("plain") == "plain"


@given(
    st.recursive(
        st.text() | st.integers() | st.none(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=8,
    )
)
def test_json_text_is_exact_and_inert(data: object) -> None:
    for indent in (None, 2):
        text = json_text(data, indent=indent)
        assert json.loads(text) == data
        text.encode("utf-8")  # lone surrogates are escapes, not raw
        assert UNSAFE.search(text.replace("\n", "")) is None


def test_json_text_escapes_what_json_dumps_leaves_raw() -> None:
    text = json_text(["\x9b", "\u202e", "\ud800", "\U000e0041", "促销"])
    assert text == r'["\u009b", "\u202e", "\ud800", "\udb40\udc41", "促销"]'
