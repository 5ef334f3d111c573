"""``ivh-monitor forecast``: the real command over CSV histories (exit 0 / 1 / 64)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

SHANGHAI = ZoneInfo("Asia/Shanghai")
END = datetime(2026, 12, 5, 20, 30, tzinfo=UTC)


def _forecast(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "forecast", *args],
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
        check=False,
    )


def _evening(local: datetime) -> float:
    h = local.hour + local.minute / 60
    if local.weekday() in (4, 5):
        return 3.0 if 18 <= h < 24 else 0.0
    return 1.5 if 19.5 <= h < 23 else 0.0


def _csv(
    path: Path, *, days: float, remaining: float, iso: bool = False, extra: float = 0.0
) -> Path:
    """Five-minute samples of the evening rhythm up to END (``extra`` streams in the
    last hour), as a Prometheus range query exported to CSV would give."""
    rows = []
    left = remaining
    t = END.timestamp()
    for _ in range(int(days * 288) + 1):
        rows.append((t, left))
        t -= 300
        burn = _evening(datetime.fromtimestamp(t, SHANGHAI))
        if t >= END.timestamp() - 3600:
            burn += extra
        left += burn * 300
    rows.reverse()
    lines = ["timestamp,remaining_seconds"]
    for at, value in rows:
        stamp = datetime.fromtimestamp(at, UTC).isoformat() if iso else f"{at:.0f}"
        lines.append(f"{stamp},{value:.3f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_json_of_a_weekly_forecast(tmp_path: Path) -> None:
    csv = _csv(tmp_path / "h.csv", days=21, remaining=400_000)
    run = _forecast(
        "--history", str(csv), "--expires-at", "2027-06-01T00:00:00+08:00",
        "--timezone", "Asia/Shanghai", "--format", "json",
    )  # fmt: skip
    assert run.returncode == 1, run.stderr  # runs dry before it expires
    out = json.loads(run.stdout)
    assert out["model"] == "weekly"
    assert out["runaway"] is False
    assert out["depletion_at"].endswith("+08:00")
    dry = datetime.fromisoformat(out["depletion_at"])
    assert dry.astimezone(SHANGHAI).hour in (18, 19, 20, 21, 22, 23, 0)  # in an evening show
    assert out["unused_at_expiry_seconds"] == 0
    assert out["rate_seconds_per_second"] >= 0
    assert out["buy_seconds"] > 0
    assert "buy about" in out["advice"][0]
    assert out["depletion_earliest"] <= out["depletion_at"] <= out["depletion_latest"]


def test_enough_hours_exit_0_and_iso_timestamps_and_table(tmp_path: Path) -> None:
    csv = _csv(tmp_path / "h.csv", days=10, remaining=3_600_000, iso=True)
    expires = (END + timedelta(days=20)).isoformat()
    run = _forecast("--history", str(csv), "--expires-at", expires, "--timezone", "Asia/Shanghai")
    assert run.returncode == 0, run.stderr
    assert "model" in run.stdout
    assert "weekly" in run.stdout
    assert "unused_at_expiry_seconds" in run.stdout
    assert "will be unused at expiry" in run.stdout


def test_now_defaults_to_the_last_sample_and_can_be_earlier(tmp_path: Path) -> None:
    csv = _csv(tmp_path / "h.csv", days=3, remaining=3_600_000)
    last = json.loads(_forecast("--history", str(csv), "--format", "json").stdout)
    assert last["now"] == END.isoformat()
    assert last["model"] == "linear"  # three days: the line
    earlier = _forecast(
        "--history", str(csv), "--now", str(int(END.timestamp()) - 86400), "--format", "json"
    )
    assert json.loads(earlier.stdout)["now"] == (END - timedelta(days=1)).isoformat()


def test_a_runaway_exits_1(tmp_path: Path) -> None:
    csv = _csv(tmp_path / "h.csv", days=21, remaining=3_600_000, extra=2.0)
    run = _forecast(
        "--history", str(csv), "--timezone", "Asia/Shanghai", "--format", "json",
        "--expires-at", "2027-01-01T00:00:00Z",
    )  # fmt: skip
    out = json.loads(run.stdout)
    assert out["runaway"] is True
    assert run.returncode == 1
    assert out["current_rate_seconds_per_second"] > 3 * out["usual_rate_seconds_per_second"]
    calm = _forecast(
        "--history", str(csv), "--timezone", "Asia/Shanghai", "--format", "json",
        "--expires-at", "2027-01-01T00:00:00Z", "--factor", "100",
    )  # fmt: skip
    assert json.loads(calm.stdout)["runaway"] is False


def test_stdin(tmp_path: Path) -> None:
    csv = _csv(tmp_path / "h.csv", days=2, remaining=3_600_000)
    run = _forecast("--history", "-", "--format", "json", stdin=csv.read_text())
    assert json.loads(run.stdout)["model"] == "linear"


@pytest.mark.parametrize(
    ("content", "args", "says"),
    [
        ("time,left\n1,2\n", (), "line 1: the header must be"),
        ("timestamp,remaining_seconds\n1700000000,5\nsoon,3\n", (), "line 3: timestamp 'soon'"),
        ("timestamp,remaining_seconds\n1700000000,lots\n", (), "line 2: remaining_seconds 'lots'"),
        ("timestamp,remaining_seconds\n1700000000,-5\n", (), "line 2: remaining_seconds '-5'"),
        ("timestamp,remaining_seconds\n1700000000,nan\n", (), "line 2: remaining_seconds 'nan'"),
        ("timestamp,remaining_seconds\n\n# nothing\n", (), "no samples after the header"),
        ("", (), "line 1: no header"),
        ("timestamp,remaining_seconds\n1700000000\n", (), "line 2: expected"),
        ("timestamp,remaining_seconds\n1e300,5\n", (), "line 2: timestamp '1e300' is outside"),
        ("timestamp,remaining_seconds\n1700000000,5\n", ("--now", "x"), "--now 'x' is neither"),
        ("timestamp,remaining_seconds\n1700000000,5\n", ("--now", "1"), "before the first sample"),
        (
            "timestamp,remaining_seconds\n1700000000,5\n",
            ("--timezone", "Mars/Olympus"),
            "--timezone 'Mars/Olympus'",
        ),
        ("timestamp,remaining_seconds\n1700000000,5\n", ("--factor", "1"), "--factor '1'"),
        (
            "timestamp,remaining_seconds\n1700000000,5\n1700000300,4\n",
            (),
            "too little history",
        ),
    ],
)
def test_bad_input_is_one_line_naming_it_exit_64(
    tmp_path: Path, content: str, args: tuple[str, ...], says: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    run = _forecast("--history", str(path), *args)
    assert run.returncode == 64
    assert run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1
    assert says in run.stderr
    assert "Traceback" not in run.stderr


def test_a_missing_file_is_64(tmp_path: Path) -> None:
    run = _forecast("--history", str(tmp_path / "nope.csv"))
    assert run.returncode == 64
    assert "nope.csv" in run.stderr
