#!/usr/bin/env python3
"""Developer entry point: sets itself up (venv + install), then runs a task.

    python3 dev.py demo        run the daemon against the embedded simulator
    python3 dev.py test        run the full test suite with coverage (what CI runs)
    python3 dev.py lint        ruff and mypy
    python3 dev.py bench ...   benchmark scripts in bench/

Needs nothing but Python 3.11+. The venv lives in .venv and is refreshed when
pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".ivh-monitor-installed"


def _ensure_venv() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"ivh-monitor needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted and PY.exists():
        return
    if not PY.exists():
        print(f"dev.py: creating {VENV.relative_to(ROOT)} ...", file=sys.stderr, flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("dev.py: installing ivh-monitor and its test tools ...", file=sys.stderr, flush=True)
    subprocess.run(
        [
            str(PY),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-e",
            ".[test]",
        ],
        cwd=ROOT,
        check=True,
    )
    STAMP.write_text(wanted)


def _run(*cmd: str) -> int:
    return subprocess.call(list(cmd), cwd=ROOT)


def main(argv: list[str]) -> int:
    task, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if task in ("help", "-h", "--help"):
        print(__doc__)
        return 0
    _ensure_venv()
    if task == "demo":
        return _run(str(PY), "-m", "monitor", "demo", *rest)
    if task == "test":
        # The whole suite measures branch coverage of `monitor` and fails under the floor
        # ([tool.coverage.report] fail_under); a selection (any argument) runs as asked.
        cov = () if rest else ("--cov=monitor", "--cov-report=term-missing:skip-covered")
        return _run(str(PY), "-m", "pytest", *cov, *rest)
    if task == "lint":
        status = _run(str(PY), "-m", "ruff", "check", ".")
        status |= _run(str(PY), "-m", "ruff", "format", "--check", ".")
        status |= _run(str(PY), "-m", "mypy")
        return status
    if task == "bench":
        if not rest:
            print("usage: python3 dev.py bench SCRIPT [ARGS]; scripts are in bench/")
            return 2
        return _run(str(PY), str(ROOT / "bench" / rest[0]), *rest[1:])
    if task == "ivh-monitor":
        return _run(str(PY), "-m", "monitor", *rest)
    print(f"unknown task {task!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
