"""The runner service: consumes execution requests and runs each execution's actions in order.

- `ExecutionRunner` (execution_runner.py): the use case, one attempt of one execution, on the ports.
- `Worker` (worker.py): the Kafka consumer loop around it: concurrency, offsets, dead letters, shutdown.
- `actions/`: the `log` and `http-request` actions; `network_guard.py`: what an http-request may reach.
- `main.py`: the composition root (`runner-svc`).
"""

from wfa_runner.actions import ActionFailedWithOutput, ActionRunner, HttpRequestRunner, LogActionRunner, http_client
from wfa_runner.execution_runner import ExecutionRunner, RunOutcome
from wfa_runner.lease import LeaseLost
from wfa_runner.lifecycle_events import LifecycleEvents
from wfa_runner.network_guard import ForbiddenAddress, GuardedNetworkBackend, forbidden_reason, guarded_transport
from wfa_runner.offsets import OffsetTracker
from wfa_runner.service import RunnerService
from wfa_runner.worker import InvalidRecord, Worker, parse_request

__all__ = [
    "ActionFailedWithOutput",
    "ActionRunner",
    "ExecutionRunner",
    "ForbiddenAddress",
    "GuardedNetworkBackend",
    "HttpRequestRunner",
    "InvalidRecord",
    "LeaseLost",
    "LifecycleEvents",
    "LogActionRunner",
    "OffsetTracker",
    "RunOutcome",
    "RunnerService",
    "Worker",
    "forbidden_reason",
    "guarded_transport",
    "http_client",
    "parse_request",
]
