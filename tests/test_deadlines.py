"""Deadlines over the whole exchange and the whole job, against the simulator over HTTP."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from monitor.client import IVHClient
from monitor.config import Settings
from monitor.errors import DeadlineError
from monitor.fetch import collect_family
from monitor.simulator import Fault, RunningSimulator

MakeClient = Callable[..., IVHClient]


async def test_a_dripping_answer_is_cut_off_at_the_deadline(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    """Headers at once, then a byte every 0.2 s: each read is quick, so only a deadline
    over the whole exchange ends it."""
    sim.faults.add(Fault(kind="drip", seconds=0.2, endpoint="getserviceasset"))
    with pytest.raises(DeadlineError, match=r"no complete answer within 0\.5 s"):
        await make_client(timeout_seconds=0.5, retries=1).service_assets()


async def test_a_collection_past_its_deadline_fails_with_that_reason(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    """Every call answers within its own timeout, yet the job as a whole does not end in
    time: it is cancelled and fails as 'deadline', and leaves nothing running."""
    sim.dataset.account("t1").replace(
        "timbres", [{"TimbreKey": f"v{i}", "ExpireDate": "+30d"} for i in range(10)]
    )
    sim.faults.add(Fault(kind="latency", seconds=0.4, endpoint="describetimbre"))
    client = make_client(timeout_seconds=5, page_size=2, max_concurrency=1)
    result = await collect_family(client, "timbres", deadline=1.0)
    assert not result.ok
    assert isinstance(result.error, DeadlineError)
    assert result.error.kind == "deadline"
    assert "not finished within its 1 s deadline" in str(result.error)
    # the same client works afterwards: no request left holding its slots
    sim.faults.clear()
    again = await collect_family(client, "timbres", deadline=5.0)
    assert again.ok
    assert len(again.assets) == 10


@pytest.mark.parametrize(
    ("client", "schedule", "family", "deadline"),
    [
        ({}, {}, "services", 300.0),  # the interval
        ({}, {}, "actions", 3600.0),  # at most an hour
        ({}, {"services_seconds": 30}, "services", 140.0),  # at least two calls' budget
        ({"job_timeout_seconds": 42}, {}, "images", 42.0),  # as configured
    ],
)
def test_job_deadlines(
    client: dict[str, float], schedule: dict[str, float], family: str, deadline: float
) -> None:
    settings = Settings(client=client, schedule=schedule)
    assert settings.job_deadline(family) == deadline
