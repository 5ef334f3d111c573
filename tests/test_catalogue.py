"""The text catalogue: complete in both languages, one placeholder syntax, one word per term.

Every text people read (status page, alert texts, chat headings) comes from
:mod:`monitor.catalogue`; these tests read its table, render every key, scan the
callers for the keys and values they pass, and hold the glossary.
"""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import get_args
from zoneinfo import ZoneInfo

import jinja2
import jinja2.nodes
import pytest

import monitor
from monitor import catalogue
from monitor.alerts.channels.render import MARKDOWN, alert_fields
from monitor.alerts.config import RuleName
from monitor.alerts.messages import render, render_parts
from monitor.alerts.records import Alert, ResolveReason
from monitor.catalogue import GLOSSARY, LANGUAGES, TEXTS, Language, Term, placeholders, text
from monitor.status import i18n

ROOT = Path(monitor.__file__).parent
SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

#: the one placeholder syntax, read independently of the catalogue's own parser
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
#: values a careless renderer would read as a template of its own
TEMPLATE_LOOKING = ["{x}", "$x", "%s", "${account}", "{account}", "{0}", "%(n)s", "{{}}", "$$"]


def _names(phrase: str) -> set[str]:
    return set(PLACEHOLDER.findall(phrase))


# -- the table ------------------------------------------------------------------------


def test_every_key_has_both_languages_and_no_empty_text() -> None:
    assert len(TEXTS) > 200
    for key, pair in TEXTS.items():
        assert len(pair) == len(LANGUAGES), key
        for language, phrase in zip(LANGUAGES, pair, strict=True):
            assert phrase.strip(), f"{key} [{language}] is empty"


def test_both_languages_of_a_key_use_the_same_placeholders() -> None:
    differ = {
        key: (sorted(_names(en)), sorted(_names(zh)))
        for key, (en, zh) in TEXTS.items()
        if _names(en) != _names(zh)
    }
    assert not differ, differ


def test_one_placeholder_syntax_and_no_other_braces_or_dollars() -> None:
    for key, pair in TEXTS.items():
        for phrase in pair:
            rest = PLACEHOLDER.sub("", phrase)
            assert "{" not in rest, (key, phrase)
            assert "}" not in rest, (key, phrase)
            assert not re.search(r"\$[A-Za-z_{]", phrase), (key, phrase)  # no string.Template


def test_language_is_declared_once() -> None:
    declared = [
        str(path.relative_to(ROOT.parent))
        for path in ROOT.rglob("*.py")
        if re.search(r"""Literal\[\s*["']en["']\s*,\s*["']zh["']\s*\]""", path.read_text("utf-8"))
    ]
    assert declared == ["monitor/catalogue.py"]
    assert get_args(Language) == LANGUAGES


# -- rendering --------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_renders_with_sample_values(language: Language) -> None:
    for key in TEXTS:
        names = placeholders(key)
        out = text(language, key, **{name: f"<{name}>" for name in names})
        for name in names:
            assert f"<{name}>" in out, (key, name)
        assert "{" not in out, (key, out)
        assert out == TEXTS[key][LANGUAGES.index(language)].format(
            **{name: f"<{name}>" for name in names}
        )


def test_a_missing_value_is_an_error_naming_key_and_placeholder() -> None:
    with pytest.raises(KeyError, match=r"page\.within_days.*\{days\}"):
        text("en", "page.within_days")
    with pytest.raises(KeyError, match=r"no text 'page\.nonsense'"):
        text("zh", "page.nonsense")


@pytest.mark.parametrize("value", TEMPLATE_LOOKING)
def test_a_value_is_inserted_literally_never_formatted_again(value: str) -> None:
    assert text("en", "page.many_accounts", n=value) == (
        f"{value} accounts: open one for its assets, charts and alerts."
    )
    assert text("zh", "page.version", v=value) == f"ivh-monitor {value}"
    assert i18n.text("zh", "table_caption", shown=value, total=2, account=value, key=value) == (
        f"{value} 的 2 项资产中的 {value} 项，按{value}排序"
    )
    # two values side by side: the first one's text is not read for the second
    assert text("en", "page.quota_of", left=value, limit="{left}") == f"{value} of {{left}} left"


@pytest.mark.parametrize("value", TEMPLATE_LOOKING)
@pytest.mark.parametrize("language", LANGUAGES)
def test_an_alert_text_shows_a_template_looking_name_as_it_is(
    value: str, language: Language
) -> None:
    facts: dict[str, object] = {"kind": "timbre", "expires_at": T0 + timedelta(days=3)}
    facts |= {"account": value, "asset": value, "name": value, "type": value, "days_left": 3.0}
    texts = render("expiring", language, facts, SHANGHAI)
    assert texts["summary"].count(value) == 2, texts["summary"]  # the name and the account
    assert texts["description"].count(value) == 4, texts["description"]
    # an operator's alerts.templates text keeps its own syntax, values still literal
    own = render("expiring", language, facts, SHANGHAI, {"summary": "$name / ${account} $$"})
    assert own["summary"] == f"{value} / {value} $"


def _facts(rule: str) -> dict[str, object]:
    return {
        "account": "acme",
        "asset": "svc-1",
        "name": "Broadcast",
        "type": "small_sample_2d",
        "kind": "account" if rule == "collection_failing" else "service",
        "expires_at": T0 + timedelta(days=5),
        "days_left": 5.0,
        "remaining_seconds": 36_000.0,
        "ordered_seconds": 360_000.0,
        "unused_seconds": 7_200.0,
        "ratio_left": 0.1,
        "depletion_at": T0 + timedelta(days=2),
        "rate": 0.05,
        "quota_limit": 3,
        "families": ("services", "timbres"),
        "since": T0 - timedelta(hours=2),
        "error": "AuthFailure",
        # the forecast's figures (runaway_burn and the advice)
        "burn_ratio": 4.2,
        "usual_rate": 0.1,
        "current_rate": 0.42,
        "sustained_minutes": 30,
        "runaway_depletion_at": T0 + timedelta(hours=20),
        "buy_seconds": 72_000.0,
        "depletion_earliest": T0 + timedelta(days=1),
        "depletion_latest": T0 + timedelta(days=3),
    }


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("rule", get_args(RuleName))
def test_every_alert_rule_has_its_three_texts_and_fills_them(rule: str, language: Language) -> None:
    parts = render_parts(rule, language, _facts(rule), SHANGHAI)
    assert set(parts) == {"summary", "description", "action"}
    for part, pieces in parts.items():
        assert f"alert.{rule}.{part}" in TEXTS
        whole = "".join(pieces)
        assert whole.strip(), (rule, part)
        assert "{" not in whole, (rule, part, whole)
        assert "?" not in whole, (rule, part, whole)  # every fact the text names was formatted


def test_every_alert_text_in_the_catalogue_belongs_to_a_rule() -> None:
    rules = set(get_args(RuleName))
    alert_rules = {k.split(".")[1] for k in TEXTS if re.fullmatch(r"alert\.\w+\.\w+", k)}
    assert alert_rules - {"kind"} == rules


# -- the callers ------------------------------------------------------------------------


def _text_functions(tree: ast.Module) -> dict[str, str]:
    """Local names of the catalogue's ``text`` (prefix "") and the page's (prefix "page.")."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in {
            "monitor.catalogue",
            "monitor.status.i18n",
        }:
            for alias in node.names:
                if alias.name == "text":
                    prefix = "page." if node.module == "monitor.status.i18n" else ""
                    found[alias.asname or alias.name] = prefix
    return found


def _call_prefix(call: ast.Call, local: dict[str, str]) -> str | None:
    func = call.func
    if isinstance(func, ast.Name) and func.id in local:
        return local[func.id]
    if isinstance(func, ast.Attribute) and func.attr == "text" and isinstance(func.value, ast.Name):
        return {"catalogue": "", "i18n": "page."}.get(func.value.id)
    return None


def _calls() -> list[tuple[str, ast.Call, str]]:
    out: list[tuple[str, ast.Call, str]] = []
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"), str(path))
        local = _text_functions(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and len(node.args) >= 2:
                prefix = _call_prefix(node, local)
                if prefix is not None:
                    out.append((f"{path.relative_to(ROOT.parent)}:{node.lineno}", node, prefix))
    return out


def _template_calls() -> list[tuple[str, str, set[str] | None]]:
    """``text(lang, "key", n=...)`` in the status page's templates: (where, key, the
    values passed, or None for ``**values``); keys held in variables are not seen."""
    env = jinja2.Environment(autoescape=True)
    out: list[tuple[str, str, set[str] | None]] = []
    for path in sorted((ROOT / "status" / "templates").glob("*.j2")):
        tree = env.parse(path.read_text("utf-8"))
        for call in tree.find_all(jinja2.nodes.Call):
            if not (isinstance(call.node, jinja2.nodes.Name) and call.node.name == "text"):
                continue
            if len(call.args) >= 2 and isinstance(call.args[1], jinja2.nodes.Const):
                passed = None if call.dyn_kwargs else {k.key for k in call.kwargs}
                where = f"{path.relative_to(ROOT.parent)}:{call.lineno}"
                out.append((where, "page." + call.args[1].value, passed))
    return out


def test_every_text_a_template_names_exists_with_exactly_the_values_it_passes() -> None:
    calls = _template_calls()
    assert len(calls) > 50  # the scan sees the status page's calls
    problems = [
        f"{where}: no text {key!r}"
        if key not in TEXTS
        else f"{where}: {key} needs {sorted(placeholders(key))}, gets {passed}"
        for where, key, passed in calls
        if key not in TEXTS or (passed is not None and passed != placeholders(key))
    ]
    assert not problems, "\n".join(problems)


def test_every_text_a_caller_names_exists_with_exactly_the_values_it_passes() -> None:
    calls = _calls()
    assert len(calls) > 50  # the scan sees the alert texts' and the page's calls
    problems: list[str] = []
    for where, call, prefix in calls:
        key_node = call.args[1]
        if isinstance(key_node, ast.Constant) and isinstance(key_node.value, str):
            key = prefix + key_node.value
            if key not in TEXTS:
                problems.append(f"{where}: no text {key!r}")
                continue
            if any(k.arg is None for k in call.keywords):
                continue  # **values: checked by rendering (test_every_alert_rule_...)
            passed = {k.arg for k in call.keywords if k.arg is not None}
            if passed != placeholders(key):
                problems.append(f"{where}: {key} needs {sorted(placeholders(key))}, gets {passed}")
        elif isinstance(key_node, ast.JoinedStr | ast.BinOp):
            # f"sev_word_{severity}", "st_" + state: some text starts so
            first = key_node.values[0] if isinstance(key_node, ast.JoinedStr) else key_node.left
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                start = prefix + first.value
                if not any(k.startswith(start) for k in TEXTS):
                    problems.append(f"{where}: no text starts with {start!r}")
    assert not problems, "\n".join(problems)


# -- the glossary ---------------------------------------------------------------------

#: identifiers in a text (log events, metric names, paths) are not words
_CODE = re.compile(r"\w+(?:\.\w+)+|\w*_\w*")


def _disagreements(key: str, en: str, zh: str, glossary: tuple[Term, ...]) -> list[str]:
    out: list[str] = []
    words = _CODE.sub(" ", PLACEHOLDER.sub("0", en)).lower()
    for term in glossary:
        pattern = re.compile(rf"\b(?:{term.en})\b")
        for match in pattern.finditer(words):
            if term.zh not in zh:
                out.append(f"{key}: en {match[0]!r}, zh lacks {term.zh!r}: {zh}")
        # a match is spent: "service type" is not also "service"
        words = pattern.sub(lambda m: " " * len(m[0]), words)
    bare = _CODE.sub(" ", PLACEHOLDER.sub(" ", zh))
    for term in glossary:
        for avoid in term.avoid:
            if re.search(avoid, bare):
                out.append(f"{key}: zh uses {avoid!r}, the glossary's word is {term.zh!r}: {zh}")
    return out


def test_shared_terms_agree_in_every_text() -> None:
    problems = [p for key, (en, zh) in TEXTS.items() for p in _disagreements(key, en, zh, GLOSSARY)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("en", "zh", "why"),
    [
        ("critical", "紧急", "严重"),  # the other word for critical
        ("3 critical", "严重 紧急 3", "紧急"),  # right word, forbidden synonym beside it
        ("service", "服务", "服务包"),  # service alone is the package
        ("Hour package low", "小时包不足", "时长包"),
        ("renewed", "已续期", "续费"),
        ("expires {when}", "{when} 截止", "到期"),
    ],
)
def test_the_glossary_check_catches_a_disagreement(en: str, zh: str, why: str) -> None:
    found = _disagreements("k", en, zh, GLOSSARY)
    assert any(why in line for line in found), found


def test_the_glossary_check_leaves_identifiers_and_longer_terms_alone() -> None:
    assert not _disagreements("k", "See ivh_alert_errors_total.", "详见指标。", GLOSSARY)
    assert not _disagreements("k", "Hours left by service type", "各服务类型剩余时长", GLOSSARY)
    assert not _disagreements("k", "never expires", "永不过期", GLOSSARY)


def test_the_docstring_glossary_lists_every_term() -> None:
    doc = catalogue.__doc__ or ""
    missing = [term.zh for term in GLOSSARY if term.zh not in doc]
    assert not missing, missing
    unlisted = [word for term in GLOSSARY for word in term.avoid if word.isalpha()]
    assert [w for w in unlisted if w not in doc] == []


# -- why an alert resolved ----------------------------------------------------------------


def _reasons_the_engine_gives() -> set[str]:
    """Every literal reason ``monitor/alerts/engine.py`` resolves an alert with."""
    tree = ast.parse((Path(monitor.__file__).parent / "alerts" / "engine.py").read_text("utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "_resolve_reason":
            for sub in ast.walk(node):
                value = sub.value if isinstance(sub, ast.Return | ast.Assign) else None
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found.add(value.value)
        if (
            isinstance(node, ast.keyword)
            and node.arg == "resolve_reason"
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            found.add(node.value.value)
    return found


def test_every_reason_the_engine_gives_is_a_declared_reason() -> None:
    given = _reasons_the_engine_gives()
    assert {"recovered", "gone", "expiry_known", "account_removed"} <= given
    assert given <= set(get_args(ResolveReason))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("reason", get_args(ResolveReason))
def test_a_chat_shows_every_resolve_reason_in_words_not_its_id(
    reason: str, language: Language
) -> None:
    now = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    alert = Alert(
        rule="expiry_soon",
        account="acc",
        kind="timbre",
        asset="v1",
        severity="warning",
        status="resolved",
        starts_at=now - timedelta(days=1),
        ends_at=now,
        resolve_reason=reason,
    )
    fields = alert_fields(alert, language, SHANGHAI, MARKDOWN)
    assert fields["resolve_reason"] == reason
    assert fields["resolve_reason_label"] == text(language, f"chat.reason.{reason}")
    assert "_" not in fields["resolve_reason_label"]  # words, never the id
    assert f"resolved.why.{reason}" in TEXTS
