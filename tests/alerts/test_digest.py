"""The daily digest's content and how chat channels show it (pure)."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from monitor.alerts.channels.render import MARKDOWN, render_alert, render_title
from monitor.alerts.digest import AccountDigest, build_digest, digest_id
from monitor.forecast import forecast
from tests.alerting import T0, service, voice

SG = ZoneInfo("Asia/Singapore")


def _digest(*accounts: AccountDigest, language: str = "en", within: float = 7) -> str:
    n = build_digest(
        "acme", date(2026, 11, 25), accounts, now=T0, within_days=within, language=language, zone=SG
    )
    assert n.id == digest_id("acme", date(2026, 11, 25)) == "digest:acme:2026-11-25"
    assert n.reason == "digest"
    return "\n\n".join(f"{a.account}\n{a.annotations['description']}" for a in n.alerts)


def test_sections_expired_expiring_running_dry_and_left() -> None:
    burning = service("BroadcastHour-1", expires_in_days=100, remaining_h=20)
    rate = 10 * 3600 / 86400  # 10 h a day: dry in 2 days
    assets = [
        burning,
        service(
            "VoiceQuota-1", category="quota", quota=(100, 40), remaining_h=None, ordered_h=None
        ),
        voice("old", expires_in_days=-2),
        voice("soon", expires_in_days=3),
        voice("later", expires_in_days=60),
    ]
    text = _digest(
        AccountDigest(
            "acme-live",
            assets,
            {burning.id: forecast(rate, burning.remaining_seconds or 0, T0, burning.expires_at)},
        )
    )
    assert "Expired:\n- voice old (Boutique): expired" in text
    assert "Expiring within 7 days:\n- voice soon (Boutique): expires" in text
    assert "(3.0 days)" in text
    assert "voice later" not in text
    assert "Running dry within 7 days at the current burn:" in text
    assert "(20.0 h left, 10.00 h/day)" in text
    assert "- BroadcastHour: 20.0 h left" in text
    assert "- VoiceQuota: 40 of 100 left" in text
    assert "+08" in text  # times in the digest's zone


def test_nothing_due_no_data_and_chinese() -> None:
    quiet = _digest(
        AccountDigest("calm", [voice("later", expires_in_days=60)]),
        AccountDigest("new", [], collected=False),
    )
    assert "calm\nNothing expires or runs dry within 7 days." in quiet
    assert "new\nNo data collected yet." in quiet
    zh = _digest(AccountDigest("calm", [voice("soon", expires_in_days=3)]), language="zh")
    assert "7 天内到期" in zh


def test_long_sections_are_capped() -> None:
    many = [voice(f"v{i}", expires_in_days=1 + i / 100) for i in range(45)]
    text = _digest(AccountDigest("big", many))
    assert text.count("- voice v") == 20
    assert "- … and 25 more" in text


def test_chat_channels_show_a_title_and_escape_only_names() -> None:
    evil = voice("**x**", expires_in_days=2)
    n = build_digest(
        "acme",
        date(2026, 11, 25),
        [AccountDigest("acme_[live]", [evil])],
        now=T0,
        within_days=7,
        language="en",
        zone=SG,
    )
    assert render_title(n, "en") == "📋 IVH asset digest 2026-11-25"
    block = render_alert(n.alerts[0], "en", SG, MARKDOWN, template="$summary ignored")
    head, _, body = block.partition("\n")
    assert head.startswith("**")
    assert "acme" in head
    assert "Expiring within 7 days:" in body  # our words as written
    assert "voice **x**" not in body  # the name's markup shown literally
