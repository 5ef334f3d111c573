"""Outside text made safe to show: asset, anchor and voice names are free text.

Whoever set an asset up typed its name (in an integrator's set-up, its
customers did), so a name may hold anything: terminal escape codes, rich
markup, HTML, line breaks, bidi overrides. Every string that comes from outside
(the vendor's records and messages, a receiver's answer) passes through one of
these before it reaches a terminal:

- :func:`printable` for terminal output (tables, ``warning:``/``error:`` lines,
  progress): each *unsafe* character becomes a visible escape (``\\x1b``,
  ``\\n``, ``\\u202e``), so the text stays on one line, changes no terminal
  state, cannot reorder what follows it, and still shows what was there.
- :func:`one_line` for messages read by people elsewhere (chat channels): line
  breaks become one space, other unsafe characters escapes as above.
- :func:`json_text` for JSON meant for a terminal *or* a program: the exact
  data, with every unsafe character written as a ``\\uXXXX`` escape
  (``json.dumps(ensure_ascii=False)`` escapes only U+0000-U+001F and would
  pass C1 controls and bidi marks raw, and fail on lone surrogates, which
  ``json.loads`` accepts from ``"\\ud800"``).

Unsafe: the Unicode categories Cc (C0, DEL, C1 incl. ESC and NEL), Cf (format:
bidi embeddings/overrides/isolates U+202A-U+202E and U+2066-U+2069, zero-width
space, word joiner, BOM, soft hyphen, tag characters), Cs (lone surrogates),
Zl and Zp (U+2028, U+2029). Kept: ZWNJ and ZWJ (U+200C, U+200D), which scripts
and emoji sequences need and which change nothing but how glyphs join; spaces
of every kind; private-use and unassigned code points. Rich markup needs no
escaping here: callers hand names to rich as ``rich.text.Text``, never as
markup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

__all__ = ["UNSAFE", "json_text", "one_line", "printable"]

#: every code point of Unicode 14 (Python 3.11's unicodedata) in Cc, Cf, Cs,
#: Zl or Zp, except U+200C/U+200D; tests/test_text.py checks it against
#: unicodedata, so a Python upgrade that adds format characters is noticed
_BEYOND_C0 = (
    "\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e"
    "\u200b\u200e-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff"
    "\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
UNSAFE = re.compile(f"[\x00-\x1f{_BEYOND_C0}]")
#: json.dumps escapes C0 itself; raw C0 left in its output is structure (indent)
_JSON_UNSAFE = re.compile(f"[{_BEYOND_C0}]")
_LINE_BREAKS = re.compile("[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]+")
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON spells astral characters
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def printable(text: str) -> str:
    """``text`` with each unsafe character as a visible escape: one line, inert."""
    if text.isprintable():  # the normal case, at C speed
        return text
    return UNSAFE.sub(_escape, text)


def one_line(text: str) -> str:
    """``text`` on one line: line breaks (runs of them) as one space, other unsafe
    characters as visible escapes, as :func:`printable`."""
    if text.isprintable():
        return text
    return printable(_LINE_BREAKS.sub(" ", text))


def json_text(
    data: Any, *, indent: int | None = None, default: Callable[[Any], Any] | None = None
) -> str:
    """``json.dumps(data, ensure_ascii=False)`` with every unsafe character escaped.

    ``json.loads`` of the result equals ``data`` exactly; the text itself holds
    no control, format or surrogate character, so it is safe on a terminal and
    encodes as UTF-8. (Unsafe characters can only occur inside JSON strings,
    where ``\\uXXXX`` means the same character.)
    """
    text = json.dumps(data, ensure_ascii=False, indent=indent, default=default)
    return _JSON_UNSAFE.sub(_json_escape, text)
