"""Scale-out: accounts split across replicas by a stable hash of their name."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from monitor.cli import main
from monitor.shard import parse_shard, select, shard_of
from monitor.simulator import DEMO_ACCOUNTS, RunningSimulator, default_dataset, run_simulator
from tests.processes import fast_schedule, start_daemon

NAMES = [f"account-{i:03d}" for i in range(300)]


def test_every_account_in_exactly_one_shard_and_balanced() -> None:
    shards = [select(NAMES, NAMES, i, 3) for i in range(3)]
    assert sorted(n for s in shards for n in s) == sorted(NAMES)
    assert all(70 < len(s) < 130 for s in shards)  # roughly even
    # stable: the same name always lands in the same shard, whatever the order
    assert select(list(reversed(NAMES)), list(reversed(NAMES)), 1, 3) == list(reversed(shards[1]))
    assert shard_of("xinghe-live", 3) == shard_of("xinghe-live", 3)


def test_growing_from_n_to_n_plus_1_moves_a_share_not_everything() -> None:
    moved = sum(shard_of(n, 4) != shard_of(n, 5) for n in NAMES)
    assert moved < len(NAMES)  # modulo hashing moves many, but never all
    assert Counter(shard_of(n, 1) for n in NAMES) == Counter({0: len(NAMES)})


@pytest.mark.parametrize(
    ("value", "host", "expected"),
    [("0/3", None, (0, 3)), ("2/3", None, (2, 3)), ("auto/4", "ivh-monitor-3", (3, 4))],
)
def test_parse_shard(value: str, host: str | None, expected: tuple[int, int]) -> None:
    assert parse_shard(value, hostname=host) == expected


@pytest.mark.parametrize(
    ("value", "host", "message"),
    [
        ("3/3", None, "does not exist"),
        ("1/0", None, "at least 1"),
        ("one/two", None, "must be i/N"),
        ("auto/3", "laptop", "ending in -<ordinal>"),
        ("auto/3", "ivh-monitor-5", "does not exist"),
    ],
)
def test_bad_shard_is_explained(value: str, host: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_shard(value, hostname=host)


def test_bad_shard_setting_names_the_field(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IVH_MONITOR_APPKEY", "k")
    monkeypatch.setenv("IVH_MONITOR_ACCESS_TOKEN", "t0ken")
    monkeypatch.setenv("IVH_MONITOR_SHARD", "4/2")
    assert main(["check-config"]) == 64
    assert "shard" in capsys.readouterr().err


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(default_dataset(datetime.now(UTC))) as running:
        yield running


@pytest.mark.slow
async def test_two_replicas_split_the_accounts(sim: RunningSimulator, tmp_path: Path) -> None:
    config = {
        "accounts": [
            {"name": n, "appkey": k, "access_token": t, "base_url": sim.url}
            for n, k, t in DEMO_ACCOUNTS
        ],
        "schedule": fast_schedule(),
    }
    seen: list[set[str]] = []
    for i in range(2):
        daemon = await start_daemon(
            {**config, "shard": f"{i}/2", "state_dir": str(tmp_path / f"state-{i}")},
            tmp_path,
            f"replica-{i}",
        )
        try:
            samples = await daemon.metrics()
            seen.append(
                {dict(labels)["account"] for name, labels in samples if name == "ivh_account_info"}
            )
        finally:
            await daemon.stop()
    names = {n for n, _, _ in DEMO_ACCOUNTS}
    assert seen[0] | seen[1] == names
    assert not seen[0] & seen[1]
    expected = {n for n in names if shard_of(n, 2) == 0}
    assert seen[0] == expected
