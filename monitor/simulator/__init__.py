"""A simulator of the IVH personal-asset gateway, for tests, the demo and benchmarks.

An independent model of the upstream API written from docs/ivh-api.md (signing,
envelope, pagination, the six endpoints), serving raw vendor-shaped records
from a :class:`Dataset`, with on-demand faults (:class:`FaultRegistry`) and a
loopback control API under ``/_sim/``.
"""

from monitor.simulator.dataset import (
    DEMO_ACCOUNTS,
    Dataset,
    DatasetError,
    SimAccount,
    default_dataset,
    generate_fleet,
    load_dataset,
)
from monitor.simulator.faults import Fault, FaultRegistry
from monitor.simulator.server import (
    RequestLog,
    RequestRecord,
    RunningSimulator,
    create_app,
    run_simulator,
    serve,
)

__all__ = [
    "DEMO_ACCOUNTS",
    "Dataset",
    "DatasetError",
    "Fault",
    "FaultRegistry",
    "RequestLog",
    "RequestRecord",
    "RunningSimulator",
    "SimAccount",
    "create_app",
    "default_dataset",
    "generate_fleet",
    "load_dataset",
    "run_simulator",
    "serve",
]
