"""The import order of ``monitor``: a module imports only its own layer or below.

The layers are data, bottom to top; the test reads every module's imports with
:mod:`ast` (TYPE_CHECKING and function-level imports included) and fails on an
import that goes up, on a module no layer names, on an import of the simulator
from outside its allowed users, and on the few imports :data:`FORBIDDEN` names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import monitor

ROOT = Path(monitor.__file__).parent

#: bottom -> top. An entry names a module, relative to ``monitor`` ("" is the
#: package itself); ``pkg.*`` names a package and every submodule of it that no
#: other entry names.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        # shared vocabulary and pure helpers: records, errors, text, signing, the
        # endpoint table, forecasts, the en/zh text catalogue; no I/O, nothing of
        # the layers above
        "vocabulary",
        (
            "",
            "catalogue",
            "domain",
            "errors",
            "text",
            "signing",
            "endpoints",
            "forecast",
            "weekly",
            "history",
            "aio",
            "heap",
            "packed",
            "precedence",
            "shard",
            "console",
            "data",
            "alerts",
            "alerts.records",
            "alerts.channels.signing",
            "alerts.channels.limits",
        ),
    ),
    (
        # vendor records and the pure transforms over them: derivation, the
        # immutable snapshot, the one JSON shape of an asset, logging and message text
        "records",
        (
            "vendor",
            "derive",
            "snapshot",
            "serialise",
            "log",
            "alerts.messages",
            "alerts.channels.escape",
        ),
    ),
    (
        # settings: pydantic models of the config file, alert rules and channels,
        # and the web config (TLS, basic auth)
        "config",
        ("alerts.matching", "alerts.channels.config", "alerts.config", "config", "webconfig"),
    ),
    # the signed, paginated, retried vendor client (httpx)
    ("client", ("client",)),
    # one collection of an account, family by family
    ("fetching", ("fetch",)),
    (
        # alerting: rules, engine, state store, outbox dispatch and channels
        "alerting",
        (
            "alerts.rules",
            "alerts.engine",
            "alerts.byaccount",
            "alerts.store",
            "alerts.store_core",
            "alerts.store_alerts",
            "alerts.store_outbox",
            "alerts.store_usage",
            "alerts.store_codec",
            "alerts.store_schema",
            "alerts.dispatch",
            "alerts.routing",
            "alerts.digest",
            "alerts.channels",
            "alerts.channels.*",
        ),
    ),
    # aiohttp plumbing shared by the status page and the server: limits, refusals
    ("http plumbing", ("httpguard",)),
    # exposition: the Prometheus collector and the status page / JSON API
    ("exposition", ("exposition", "status", "status.*")),
    # the HTTP server and its authentication
    ("server", ("server", "auth")),
    # wiring: the daemon (the one place concrete classes meet) and the one-shot report
    ("wiring", ("daemon", "report")),
    # entry points: command line, demo, ``python -m monitor``
    ("entry", ("cli", "alerts.cli", "demo", "__main__")),
]

#: the simulator is a package of its own: it may import itself and these only ...
SIMULATOR_MAY_IMPORT = frozenset({"domain", "text", "signing", "endpoints"})
#: ... and only these import it
SIMULATOR_USERS = frozenset({"cli", "demo"})
#: inside the simulator, bottom -> top, as LAYERS
SIMULATOR_LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # raw vendor records and their relative dates
    ("records", ("simulator.records",)),
    # the accounts and their records
    ("model", ("simulator.dataset",)),
    # where datasets come from: files (and the demo accounts), synthetic fleets
    ("data sources", ("simulator.loader", "simulator.fleet")),
    # what a request must be, and what the faults do to an answer
    ("checks and faults", ("simulator.validate", "simulator.faults")),
    # one running simulator's state: request log, rate limiter, clock
    ("state", ("simulator.state",)),
    # the vendor endpoints and the control API
    ("endpoints", ("simulator.api", "simulator.control")),
    # the application and its runners; the package's public names
    ("server", ("simulator.server", "simulator")),
]

#: imports the layers would allow but the design keeps out: the collector reads
#: alert state through the protocols in exposition.py (AlertState, NotificationQueue);
#: daemon.py wires the concrete engine and dispatcher in
FORBIDDEN: dict[str, frozenset[str]] = {
    "exposition": frozenset({"alerts.engine", "alerts.dispatch", "alerts.store"}),
}


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_simulator(name: str) -> bool:
    return name == "simulator" or name.startswith("simulator.")


def _layer(name: str, layers: list[tuple[str, tuple[str, ...]]] = LAYERS) -> int | None:
    best: tuple[int, int] | None = None  # (specificity, layer)
    for index, (_, entries) in enumerate(layers):
        for entry in entries:
            if entry == name:
                return index
            if entry.endswith(".*") and name.startswith(entry[:-1]):
                depth = len(entry)
                if best is None or depth > best[0]:
                    best = (depth, index)
    return None if best is None else best[1]


def _package(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _imports(name: str, path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` for each import of a ``monitor`` module, relative to ``monitor``."""
    found: list[tuple[int, str]] = []

    def add(line: int, dotted: str) -> None:
        if dotted == "monitor":
            found.append((line, ""))
        elif dotted.startswith("monitor."):
            found.append((line, dotted.removeprefix("monitor.")))

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = ("monitor." + _package(name, path)).rstrip(".").split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}".removeprefix("monitor.")
                # ``from pkg import submodule`` imports the submodule
                add(node.lineno, f"monitor.{sub}" if sub in MODULES else base)
    return sorted(set(found))


def _label(name: str) -> str:
    return f"monitor.{name}" if name else "monitor"


def _simulator_violations(name: str, path: Path) -> list[str]:
    where = path.relative_to(ROOT.parent)
    mine = _layer(name, SIMULATOR_LAYERS)
    if mine is None:
        return [f"{where}: {_label(name)} is in no layer (add it to SIMULATOR_LAYERS)"]
    out: list[str] = []
    for line, target in _imports(name, path):
        if not _is_simulator(target):
            if target not in SIMULATOR_MAY_IMPORT:
                out.append(f"{where}:{line}: the simulator imports {_label(target)}")
            continue
        theirs = _layer(target, SIMULATOR_LAYERS)
        if theirs is not None and theirs > mine:
            out.append(
                f"{where}:{line}: {_label(name)} (simulator layer"
                f" {SIMULATOR_LAYERS[mine][0]!r}) imports {_label(target)} (higher layer"
                f" {SIMULATOR_LAYERS[theirs][0]!r})"
            )
    return out


def violations() -> list[str]:
    out: list[str] = []
    for name, path in MODULES.items():
        where = path.relative_to(ROOT.parent)
        if _is_simulator(name):
            out.extend(_simulator_violations(name, path))
            continue
        mine = _layer(name)
        if mine is None:
            out.append(f"{where}: {_label(name)} is in no layer (add it to LAYERS)")
            continue
        for line, target in _imports(name, path):
            if _is_simulator(target):
                if name not in SIMULATOR_USERS:
                    out.append(f"{where}:{line}: {_label(name)} imports the simulator")
                continue
            if target in FORBIDDEN.get(name, ()):
                out.append(f"{where}:{line}: {_label(name)} must not import {_label(target)}")
                continue
            theirs = _layer(target)
            if theirs is not None and theirs > mine:
                out.append(
                    f"{where}:{line}: {_label(name)} (layer {LAYERS[mine][0]!r}) imports"
                    f" {_label(target)} (higher layer {LAYERS[theirs][0]!r})"
                )
    return out


def test_every_module_imports_only_its_layer_or_below() -> None:
    found = violations()
    assert not found, "imports against the layer order:\n" + "\n".join(found)


def test_every_layer_entry_names_a_module() -> None:
    stale = [
        entry
        for _, entries in [*LAYERS, *SIMULATOR_LAYERS]
        for entry in entries
        if entry.removesuffix(".*") not in MODULES
    ]
    assert not stale, f"LAYERS names modules that do not exist: {stale}"
