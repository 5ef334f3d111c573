"""Outside text made safe for each chat service's markup (pure).

Outside text is whatever we did not write: asset, anchor and voice names,
service type names, asset ids, account labels, the vendor's error messages.
Interpolated raw into a chat message it can add a link (``[click me](…)``),
colour (``<font color=red>``), a heading or list (a newline, then ``#``/``-``),
a mention (``<at id=all></at>``, ``<@userid>``, ``<!channel>``) or a fake
``@所有人`` line. Each function here shows such text literally in one service
family's markup; our own formatting around it is left alone (the render layer
applies them to outside text only: see ``render.alert_fields``).

Every function first makes the text :func:`one_line` (line breaks, tabs and
other C0/C1 controls, NEL, U+2028/2029 become a space; bidi overrides and
isolates, other controls and lone surrogates become U+FFFD; runs of spaces
collapse) and caps it at :data:`MAX_CHARS` with an ellipsis.

What the renderers honour, and why substitution rather than backslashes:

============== ======================================================================
WeCom markdown headings, bold/italic, links, inline code, quotes, ``<font>``,
               ``<@userid>``; backslash escapes are *not* honoured (a public report
               shows ``\\[x\\]`` consumed into italics), so nothing here relies on them
DingTalk       headings, quotes, bold/italic, links, images, lists, ``<font>``;
markdown       ``@mobile`` pings only for mobiles in the ``at`` field (config-only)
Feishu lark_md bold/italic/strikethrough, links, ``<at id=…>``, ``<font>``, emoji
Slack mrkdwn   ``*bold*`` ``_it_`` ``~s~`` `` `code` ``, a leading ``>`` quote (also
               ``＞``), ``<…>`` links and mentions; only ``& < >`` have escapes
               (entities); ``@channel`` as plain text does not notify
============== ======================================================================

So :func:`markdown` (WeCom, DingTalk and Feishu markdown) replaces the
characters that start markup with look-alikes: ``[ ]`` → ``［ ］``, ``< >`` →
``＜ ＞``, ``*`` → ``∗``, `` ` `` → ``ˋ``, ``~`` → ``∼``, ``#`` → ``＃``,
``\\`` → ``＼``, ``@`` → ``＠``, ``_`` → ``ˍ`` (unless inside a word, where no
renderer emphasises it: ids like ``female_1`` stay copyable), ``&`` of an
entity → ``＆``, and a leading list/rule marker (``- `` ``+ `` ``1. ``) gets a
look-alike. :func:`slack` uses Slack's own entities for ``& < >``, look-alikes
for ``* ` ~ _`` (Slack has no escape for them) and puts an invisible soft
hyphen before a leading quote. :func:`plain` (WeCom text) only needs the
one line and ``< > @`` neutralised.
"""

from __future__ import annotations

import re
from typing import Protocol

from monitor.text import one_line as text_one_line

__all__ = ["MAX_CHARS", "Escaper", "markdown", "one_line", "plain", "slack"]

#: outside text longer than this (in characters) is cut, ending in "…"
MAX_CHARS = 256


class Escaper(Protocol):
    def __call__(self, text: str, limit: int | None = MAX_CHARS) -> str: ...


_SPACES = re.compile(" {2,}")
_TAB = "\t"


def one_line(text: str, limit: int | None = MAX_CHARS) -> str:
    """``text`` on one line (:func:`monitor.text.one_line`: line breaks as a space,
    other control, bidi and format characters as visible escapes such as ``\\x1b``),
    spaces collapsed, at most ``limit`` characters."""
    if limit is None:
        limit = len(text)
    if text.isprintable() and len(text) <= limit and text == text.strip(" ") and "  " not in text:
        return text  # the normal case: nothing to do
    flat = _SPACES.sub(" ", text_one_line(text.replace(_TAB, " "))).strip(" ")
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip(" ") + "…"
    return flat


_MARKDOWN = str.maketrans(
    {
        "[": "［",
        "]": "］",
        "<": "＜",
        ">": "＞",
        "*": "∗",
        "`": "ˋ",
        "~": "∼",
        "#": "＃",
        "\\": "＼",
        "@": "＠",
    }
)
#: an underscore that is not between two letters/digits (where it could emphasise)
_UNDERSCORE = re.compile(r"_(?![^\W_])|(?<![^\W_])_")
_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
#: a list item or a rule/setext line at the start of a line
_LEADING_MARK = re.compile(r"^([-+=])(?=[\s\-+=]|$)")
_LEADING_NUMBER = re.compile(r"^(\d{1,9})([.)])(?=\s|$)")
_LOOKALIKE = {"-": "‐", "+": "＋", "=": "＝", ".": "．", ")": "）"}


def markdown(text: str, limit: int | None = MAX_CHARS) -> str:
    """Outside text for WeCom markdown, DingTalk markdown and Feishu ``lark_md``."""
    out = _UNDERSCORE.sub("ˍ", one_line(text, limit).translate(_MARKDOWN))
    out = _ENTITY.sub("＆", out)
    out = _LEADING_MARK.sub(lambda m: _LOOKALIKE[m[1]], out)
    return _LEADING_NUMBER.sub(lambda m: m[1] + _LOOKALIKE[m[2]], out)


_SLACK = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "*": "∗", "`": "ˋ", "~": "∼"})


def slack(text: str, limit: int | None = MAX_CHARS) -> str:
    """Outside text for Slack ``mrkdwn``."""
    out = _UNDERSCORE.sub("ˍ", one_line(text, limit).translate(_SLACK))
    # Slack quotes a line starting with > (sent as &gt;) or ＞; a soft hyphen
    # (invisible) in front keeps it text
    return "\u00ad" + out if out.startswith(("&gt;", "＞")) else out


_PLAIN = str.maketrans({"<": "＜", ">": "＞", "@": "＠"})


def plain(text: str, limit: int | None = MAX_CHARS) -> str:
    """Outside text for plain-text messages (WeCom ``text``)."""
    return one_line(text, limit).translate(_PLAIN)
