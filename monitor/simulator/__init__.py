"""A simulator of the IVH personal-asset gateway, for tests, the demo and benchmarks.

An independent model of the upstream API written from docs/ivh-api.md (signing,
envelope, pagination, the six endpoints), serving raw vendor-shaped records
from a :class:`Dataset`, with on-demand faults (:class:`FaultRegistry`) and a
loopback control API under ``/_sim/``.

Modules, by job: ``records`` (raw records, relative dates), ``dataset`` (the
accounts and their records), ``loader`` (dataset files and the demo accounts,
``demo-accounts.yaml``), ``fleet`` (synthetic fleets), ``validate`` (auth,
envelope, paging), ``api`` (the six endpoints), ``faults`` (what goes wrong),
``state`` (request log, rate limiter, clock), ``control`` (``/_sim/``) and
``server`` (the application and its runners).
"""

from monitor.simulator.dataset import Dataset, SimAccount
from monitor.simulator.faults import Fault, FaultRegistry
from monitor.simulator.fleet import generate_fleet
from monitor.simulator.loader import DEMO_ACCOUNTS, default_dataset, load_dataset
from monitor.simulator.records import DatasetError
from monitor.simulator.server import RunningSimulator, create_app, run_simulator, serve
from monitor.simulator.state import RequestLog, RequestRecord

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
