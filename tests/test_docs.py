"""The documentation holds together: every shipped alert has its runbook, and every
relative link in the README and docs/ reaches a file (and, for a Markdown file, the
heading its anchor names, as GitHub spells anchors)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "config" / "prometheus" / "ivh-monitor-rules.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
TOP_PAGES = ("README.md", "ARCHITECTURE.md", "CONTRIBUTING.md", "CHANGELOG.md")
PAGES = sorted([*(ROOT / name for name in TOP_PAGES), *(ROOT / "docs").glob("*.md")])

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_CODE = re.compile(r"`+[^`\n]*`+")
_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    """The text outside code blocks and code spans, where a link is a link."""
    return _CODE.sub("", _FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as dashes."""
    text = re.sub(r"<[^>]+>", "", heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out: set[str] = set()
    for match in _HEADING.finditer(_FENCE.sub("", page.read_text(encoding="utf-8"))):
        slug = _slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def relative_links(page: Path) -> list[str]:
    return [
        target
        for target in _LINK.findall(_prose(page.read_text(encoding="utf-8")))
        if not re.match(r"[a-z][a-z0-9+.-]*:", target, re.I)
    ]


def shipped_alerts() -> list[str]:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    names = {
        rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule
    }
    return sorted(names)


def test_the_rules_ship_alerts() -> None:
    assert len(shipped_alerts()) >= 20


@pytest.mark.parametrize("alert", shipped_alerts())
def test_every_shipped_alert_has_a_runbook_section(alert: str) -> None:
    headings = re.findall(r"^## (\S+)\s*$", RUNBOOKS.read_text(encoding="utf-8"), re.M)
    assert alert in headings, f"docs/runbooks.md has no '## {alert}' section"
    assert alert.lower() in anchors(RUNBOOKS)


def test_every_runbook_section_is_not_empty() -> None:
    sections = re.split(r"^## ", RUNBOOKS.read_text(encoding="utf-8"), flags=re.M)[1:]
    empty = [s.splitlines()[0] for s in sections if not "".join(s.splitlines()[1:]).strip()]
    assert not empty, f"runbook sections with no text: {empty}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_reaches_a_file_and_its_anchor(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading with anchor #{anchor} in {dest.name}")
    assert not broken, f"{page.relative_to(ROOT)}: {broken}"


def test_the_link_checker_sees_links_and_anchors() -> None:
    """The checker itself: a link in prose counts, one in code does not, and the
    anchors are GitHub's."""
    readme = relative_links(ROOT / "README.md")
    assert "docs/runbooks.md" in readme
    assert "[click me](http://…)" in (ROOT / "docs" / "alerts.md").read_text(encoding="utf-8")
    assert not any("click" in link for link in relative_links(ROOT / "docs" / "alerts.md"))
    assert _slug("IvhAssetExpiring") == "ivhassetexpiring"
    assert _slug("1. Transport and signing") == "1-transport-and-signing"
    assert _slug("`ivh-monitor report`") == "ivh-monitor-report"
    assert "ivhmonitordown" in anchors(RUNBOOKS)
