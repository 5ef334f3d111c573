"""Outside text (vendor names, ids, errors) reaches chat robots shown literally.

Hostile asset names go through the whole path — rules → texts → state store →
outbox → channel → HTTP — to local receivers (aiohttp on 127.0.0.1) standing
in for each robot. Each post is compared with the post of the same alert under
a benign name: the markup that renders (links, tags, emphasis, code, headings,
quotes, lists, mentions, lines) must be exactly ours, and the name's letters
must still be there to read. A hypothesis test drives names built from markup
characters through every chat channel the same way.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.alerts.channels import TargetLimiters, build_channel, parse_channel_config
from monitor.alerts.config import AlertsConfig
from monitor.alerts.dispatch import Dispatcher
from monitor.alerts.engine import AlertEngine
from monitor.alerts.messages import joined, render_parts
from monitor.alerts.records import Alert, Notification
from monitor.alerts.store import StateStore
from monitor.catalogue import LANGUAGES, Language
from monitor.domain import Asset
from monitor.text import one_line
from tests.alerting import SHANGHAI, T0, Clock, collected, snapshot_store
from tests.strategies import markup_names

HOSTILE = [
    "[click me](http://evil.example/)",
    "<font color=red>x</font>",
    "name\n# heading",
    "a\n@所有人",
    "<at id=all></at>",
    "<!channel> <!here> @channel",
    "*bold* _it_ ~s~ `code` **b** __u__ ~~st~~",
    "![img](http://evil.example/x.png)",
    "\x1b[31mred\x1b[0m",
    "\u202eexe.txt\u202c and \u2067iso\u2069",
    "x" * 5000,
    "- item\n> quote\n1. first\n+ plus\n---\n```\nfence",
    "&lt;b&gt;bold&lt;/b&gt; &#42;x&#42; AT&T",
    "back\\*slash\\* \\[x\\]",
    "<@zhangsan> @all @13900002222",
    "cr\rlf\r\nnel\x85ls\u2028ps\u2029tab\tvt\x0bend",
    "<a href='http://evil.example/'>link</a>",
    "> quoted",
    "＞ full-width quote",
    "# top\n## second",
    "1. first",
]
BENIGN = "benign"

DT_MOBILE = "13800001111"
#: operator texts: an alerts.templates summary and a per-channel template, both with markup
OPERATOR_SUMMARY = "**$name** of $account: $days_left days left"
CHANNEL_TEMPLATES = {
    "markdown": (
        '<font color="warning">$severity_label</font> ${value_name}\n$summary\n$description'
    ),
    "slack": "${value_name}\n*$severity_label* $summary\n$description",
    "plain": "${value_name}\n$summary\n$description",
}


# -- the robots -----------------------------------------------------------------------


@dataclass
class Robots:
    """One aiohttp server answering like each robot; records every JSON body by path."""

    base: str = ""
    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body in self.posts if p == path]


@pytest.fixture
async def robots() -> AsyncIterator[Robots]:
    robots = Robots()

    async def handle(request: web.Request) -> web.Response:
        robots.posts.append((request.path, json.loads(await request.read())))
        if request.path.startswith("/open-apis/"):
            return web.json_response({"code": 0, "msg": "success"})
        if request.path.startswith("/services/"):
            return web.Response(text="ok")
        return web.json_response({"errcode": 0, "errmsg": "ok"})  # WeCom, DingTalk

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    robots.base = f"http://{host}:{port}"
    yield robots
    await runner.cleanup()


@dataclass(frozen=True)
class Target:
    """One chat channel under test: its config and where its text sits in a body."""

    name: str
    syntax: str  # markdown / slack / plain
    path: str
    config: dict[str, Any]
    text: Callable[[dict[str, Any]], str]


def _slack_text(body: dict[str, Any]) -> str:
    return "\n".join(b["text"]["text"] for b in body["blocks"] if b["type"] == "section")


def _targets(base: str) -> list[Target]:
    """Every chat kind, with its default layout and with a per-channel template."""
    out: list[Target] = []
    for suffix in ("", "-tpl"):

        def tpl(syntax: str, on: bool = bool(suffix)) -> dict[str, str]:
            return {"template": CHANNEL_TEMPLATES[syntax]} if on else {}

        specs: list[tuple[str, str, str, dict[str, Any], Callable[[dict[str, Any]], str]]] = [
            (
                "wecom-md",
                "markdown",
                "/wecom/md{}?key=k",
                {"type": "wecom", "mentioned_list": ["zhangsan"], **tpl("markdown")},
                lambda b: b["markdown"]["content"],
            ),
            (
                "wecom-text",
                "plain",
                "/wecom/text{}?key=k",
                {"type": "wecom", "msgtype": "text", **tpl("plain")},
                lambda b: b["text"]["content"],
            ),
            (
                "dingtalk",
                "markdown",
                "/robot/send{}?access_token=d",
                {
                    "type": "dingtalk",
                    "secret": "SECtest",
                    "at_mobiles": [DT_MOBILE],
                    **tpl("markdown"),
                },
                lambda b: b["markdown"]["text"],
            ),
            (
                "feishu",
                "markdown",
                "/open-apis/bot/v2/hook/f{}",
                {"type": "feishu", "at_user_ids": ["ou_1"], **tpl("markdown")},
                lambda b: b["card"]["elements"][0]["text"]["content"],
            ),
            (
                "slack",
                "slack",
                "/services/T1/B1/s{}",
                {"type": "slack", **tpl("slack")},
                _slack_text,
            ),
        ]
        for name, syntax, url, cfg, text in specs:
            path = url.format(suffix)
            out.append(
                Target(
                    name + suffix,
                    syntax,
                    path.split("?")[0],
                    {"name": name + suffix, "min_severity": "info", "url": base + path, **cfg},
                    text,
                )
            )
    return out


# -- the checkers, one per syntax -------------------------------------------------------

#: a line that renders as a block of its own: markdown (heading, quote, list, rule,
#: fence) and Slack (quote, fence; Slack has no headings or lists)
_MARKDOWN_BLOCK = re.compile(r"^\s*(#{1,6}(\s|$)|>|＞|[-+*](\s|$)|\d{1,9}[.)](\s|$)|```|---|===)")
_SLACK_BLOCK = re.compile(r"^(&gt;|>|＞|```)")
#: an underscore that can open or close emphasis (not between two letters/digits)
_EDGE_UNDERSCORE = re.compile(r"_(?![^\W_])|(?<![^\W_])_")
_ENTITY = re.compile(r"&#?[0-9A-Za-z]+;")


def _blocks(text: str, block: re.Pattern[str]) -> list[str]:
    return [m[1] for line in text.split("\n") if (m := block.match(line))]


def _letters(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", text)


def _shows(post: str, name: str) -> None:
    """The name's letters and digits are there to read, in order (control and format
    characters shown as visible escapes, as everywhere: monitor.text)."""
    assert _letters(one_line(name))[:40] in _letters(post)


def _same_structure(post: str, ref: str, chars: str, block: re.Pattern[str] | None) -> None:
    assert post.count("\n") == ref.count("\n"), "the name added or removed lines"
    if block is not None:
        assert _blocks(post, block) == _blocks(ref, block), "the name started a block"
    for c in chars:
        assert post.count(c) == ref.count(c), f"the name added markup {c!r}"


def _same_emphasis(post: str, ref: str) -> None:
    assert len(_EDGE_UNDERSCORE.findall(post)) == len(_EDGE_UNDERSCORE.findall(ref)), "_emphasis_"


def check_markdown(post: str, ref: str, name: str) -> None:
    """WeCom markdown, DingTalk markdown, Feishu lark_md."""
    _same_structure(post, ref, "*`~[]<>#\\@", _MARKDOWN_BLOCK)
    _same_emphasis(post, ref)
    assert "](" not in post, "a live link or image"
    assert not _ENTITY.search(post), "an HTML entity the renderer would decode"
    assert "@所有人" not in post
    assert "@all" not in post
    _shows(post, name)


def check_slack(post: str, ref: str, name: str) -> None:
    """Slack mrkdwn: only our entities, no <…> from the name, no emphasis, no quote."""
    _same_structure(post, ref, "*`~<>", _SLACK_BLOCK)
    _same_emphasis(post, ref)
    assert "&" not in re.sub(r"&(amp|lt|gt);", "", post), "a raw & that could start an entity"
    assert "<!" not in post
    decoded = post.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    _shows(decoded, name)


def check_plain(post: str, ref: str, name: str) -> None:
    """WeCom text: one line per field, no tags, no @ lines."""
    _same_structure(post, ref, "<>@", None)
    assert "@所有人" not in post
    _shows(post, name)


CHECKERS = {"markdown": check_markdown, "slack": check_slack, "plain": check_plain}


# -- one world: engine, store, outbox, channels ----------------------------------------


def _asset(name: str, *, expires_in_days: float = 10) -> Asset:
    return Asset(
        account="acme",
        kind="timbre",
        id="female_1",
        type="Boutique",
        name=name,
        expires_at=T0 + timedelta(days=expires_in_days),
    )


async def _run(tmp_path: Path, robots: Robots, name: str) -> dict[str, list[dict[str, Any]]]:
    """Fire one alert for a voice called ``name``, then resolve it; each target's bodies."""
    robots.posts.clear()
    clock = Clock()
    targets = _targets(robots.base)
    config = AlertsConfig.model_validate({"templates": {"expiring": {"summary": OPERATOR_SUMMARY}}})
    channels = [
        build_channel(
            parse_channel_config(t.config),
            clock=lambda: clock.now.timestamp(),  # noqa: PLW0108 - read at call time
            limiters=TargetLimiters({}),
        )
        for t in targets
    ]
    state = StateStore(tmp_path / f"state-{uuid.uuid4().hex}.sqlite3")
    try:
        dispatcher = Dispatcher(
            state,
            {t.name: c for t, c in zip(targets, channels, strict=True)},
            config.delivery,
            clock=clock,
        )
        engine = AlertEngine(config, state, channels, zones={"acme": SHANGHAI}, started_at=T0)
        snapshot = snapshot_store()
        collected(snapshot, clock.now, _asset(name))
        engine.evaluate(snapshot.current, "acme", clock.now)
        await dispatcher.deliver_due()
        clock.advance(hours=1)
        collected(snapshot, clock.now)  # the voice is gone: resolved
        engine.evaluate(snapshot.current, "acme", clock.now)
        await dispatcher.deliver_due()
    finally:
        for c in channels:
            await c.aclose()
        state.close()
    return {t.name: robots.bodies(t.path) for t in targets}


#: the benign run's bodies (they do not depend on the robots' address)
_REFERENCE: dict[str, list[dict[str, Any]]] = {}


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_names_are_shown_literally_by_every_chat_channel(
    tmp_path: Path, robots: Robots, name: str
) -> None:
    if not _REFERENCE:
        _REFERENCE.update(await _run(tmp_path, robots, BENIGN))
    ref = _REFERENCE
    got = await _run(tmp_path, robots, name)
    for target in _targets(robots.base):
        posts, refs = got[target.name], ref[target.name]
        assert len(posts) == len(refs) == 2, target.name  # firing, then resolved
        for body, ref_body in zip(posts, refs, strict=True):
            CHECKERS[target.syntax](target.text(body), target.text(ref_body), name)


def _ours(target: Target, firing: dict[str, Any], resolved: dict[str, Any]) -> None:
    """Our own formatting, mentions and the operators' texts are there as written."""
    text, done = target.text(firing), target.text(resolved)
    templated = target.name.endswith("-tpl")
    if target.syntax == "markdown":
        assert "**" in text  # the operator's alerts.templates bold (and our headings)
        if templated:
            assert text.count('<font color="warning">WARNING</font>') == 1
        else:
            assert "**[WARNING]**" in text
            assert "**[RESOLVED]**" in done
    if target.name.startswith("wecom-md"):
        assert text.startswith("**🟠 [FIRING:1] IVH asset alerts**\n\n")
        assert text.endswith("\n<@zhangsan>")
    if target.name.startswith("dingtalk"):
        assert text.startswith("#### 🟠 [FIRING:1] IVH asset alerts\n\n")
        assert text.endswith(f"\n\n@{DT_MOBILE}")
        # a mention comes from the at field alone, and that from the config alone
        assert firing["at"] == {"atMobiles": [DT_MOBILE], "atUserIds": [], "isAtAll": False}
    if target.name.startswith("feishu"):
        assert firing["card"]["header"]["template"] == "orange"
        assert resolved["card"]["header"]["template"] == "green"
        assert text.endswith("\n<at id=ou_1></at>")
    if target.name.startswith("slack"):
        # no link_names/parse: "@channel" typed as text never notifies
        assert set(firing) == {"text", "blocks"}
        assert firing["blocks"][0]["type"] == "header"
        assert ("*WARNING*" if templated else "*[WARNING]*") in text


async def test_our_formatting_and_mentions_survive_hostile_names(
    tmp_path: Path, robots: Robots
) -> None:
    for name in (BENIGN, HOSTILE[0], HOSTILE[4], HOSTILE[14]):
        got = await _run(tmp_path, robots, name)
        for target in _targets(robots.base):
            _ours(target, *got[target.name])


async def test_a_name_is_one_line_and_capped_with_an_ellipsis(
    tmp_path: Path, robots: Robots
) -> None:
    got = await _run(tmp_path, robots, "y" * 5000 + "\n# tail")
    for target in _targets(robots.base):
        for body in got[target.name]:
            text = target.text(body)
            assert "y" * 256 not in text
            assert "y" * 255 + "…" in text
            assert "tail" not in text


# -- any name, every chat channel ---------------------------------------------------------


def _sample(name: str, language: Language) -> Notification:
    facts = {
        "account": "acme",
        "asset": name,
        "name": name,
        "type": name,
        "kind": "timbre",
        "expires_at": T0 + timedelta(days=10),
        "days_left": 10.0,
    }
    parts = render_parts("expiring", language, facts, SHANGHAI, {"summary": OPERATOR_SUMMARY})
    alert = Alert(
        rule="expiring",
        account="acme",
        kind="timbre",
        asset=name,
        severity="warning",
        status="firing",
        starts_at=T0,
        labels={"alertname": "IVHAssetExpiring", "asset": name, "type": name},
        annotations={k: joined(v) for k, v in parts.items()},
        annotation_parts=parts,
        values={"name": name, "days_left": 10.0},
    )
    return Notification(
        id="n1",
        channel="c",
        reason="firing",
        created_at=T0,
        alerts=(alert,),
        language=language,
    )


def _render_everywhere(name: str, language: Language) -> dict[str, list[dict[str, Any]]]:
    """What every chat channel posts for one alert about ``name``."""
    bodies: dict[str, list[dict[str, Any]]] = {}

    async def go() -> None:
        for target in _targets("http://robot.test"):
            seen = bodies.setdefault(target.name, [])

            def answer(request: httpx.Request, seen: list[dict[str, Any]] = seen) -> httpx.Response:
                seen.append(json.loads(request.content))
                if request.url.path.startswith("/services/"):
                    return httpx.Response(200, text="ok")
                return httpx.Response(200, json={"errcode": 0, "code": 0})

            channel = build_channel(
                parse_channel_config(target.config),
                transport=httpx.MockTransport(answer),
                clock=T0.timestamp,
                limiters=TargetLimiters({}),
            )
            try:
                report = await channel.send(_sample(name, language))
            finally:
                await channel.aclose()
            assert report.outcome == "delivered"

    # hypothesis drives sync tests; each example gets its own event loop
    asyncio.run(go())
    return bodies


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=markup_names, language=st.sampled_from(LANGUAGES))
@example(name="[x](http://evil.example/)\n# h\n@所有人<at id=all></at>`c`", language="zh")
def test_any_name_shows_literally_in_every_chat_channel(name: str, language: Language) -> None:
    ref = _render_everywhere(BENIGN, language)
    got = _render_everywhere(name, language)
    for target in _targets("http://robot.test"):
        (body,), (ref_body,) = got[target.name], ref[target.name]
        CHECKERS[target.syntax](target.text(body), target.text(ref_body), name)


# -- the pieces behind it ------------------------------------------------------------------


def test_operator_templates_keep_their_text_and_mark_only_values_as_outside() -> None:
    facts = {"account": "acme", "name": "[n]", "kind": "timbre", "days_left": 2.0}
    template = "$$ **${name}** $unknown $ ${kind_name}: $days_left"
    parts = render_parts("expiring", "en", facts, SHANGHAI, {"summary": template})
    # what string.Template.safe_substitute gives, cut where the outside text is
    assert parts["summary"] == ("$ **", "[n]", "** $unknown $ voice: 2.0")
    assert joined(parts["summary"]) == "$ **[n]** $unknown $ voice: 2.0"


async def test_annotations_without_pieces_are_escaped_whole() -> None:
    """An alert queued before pieces existed (or made by hand) is never trusted."""
    seen: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"errcode": 0})

    alert = Alert(
        rule="expiring",
        account="acme",
        kind="timbre",
        asset="female_1",
        severity="warning",
        status="firing",
        starts_at=T0,
        annotations={"summary": "[click](http://evil.example/)\n# h <at id=all></at>"},
    )
    channel = build_channel(
        parse_channel_config(
            {"name": "w", "type": "wecom", "url": "https://robot.test/send?key=k"}
        ),
        transport=httpx.MockTransport(answer),
        limiters=TargetLimiters({}),
    )
    await channel.send(
        Notification(id="n", channel="w", reason="firing", created_at=T0, alerts=(alert,))
    )
    await channel.aclose()
    content = seen[0]["markdown"]["content"]
    assert "［click］(http://evil.example/) ＃ h ＜at id=all＞＜/at＞" in content


def test_texts_filled_again_show_each_alerts_own_values() -> None:
    """A text is filled once per set of values it shows: the same values again give the
    same pieces, any value that shows differently gives its own."""
    from datetime import UTC, datetime

    def summary(name: str, days: float, language: Language = "en") -> str:
        facts = {"account": "acme", "name": name, "kind": "timbre", "days_left": days}
        facts["expires_at"] = datetime(2026, 12, 9, 1, 30, tzinfo=UTC)
        return joined(render_parts("expiring", language, facts, SHANGHAI)["summary"])

    first = summary("alpha", 2.0)
    assert "alpha" in first
    assert "2.0" in first
    assert summary("alpha", 2.04) == first  # shown as 2.0 too
    assert "2.1" in summary("alpha", 2.06)
    beta = summary("beta", 2.0)
    assert "beta" in beta
    assert "alpha" not in beta
    assert summary("alpha", 2.0) == first
    assert summary("alpha", 2.0, "zh") != first
