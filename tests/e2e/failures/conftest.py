"""A rig of its own for the failure tests: MongoDB and Kafka that only these tests use (so they can be stopped
and started again), and the three services with short leases, sweeps and group timings, so that takeovers and
repairs happen in seconds.

MongoDB keeps its data on disk and comes back with it; Kafka (Tansu) keeps everything in memory and comes back
empty, as a broker that lost its state. After each test, whatever the test left stopped or killed is started
again, so that one test's failure does not cascade into the next.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from tests.e2e.conftest import E2E_ENV, STACK_START_TIMEOUT
from tests.e2e.helpers import poll

from wfa_devstack import (
    EmbeddedKafka,
    EmbeddedMongo,
    EmbeddedServer,
    ServiceProcess,
    ServiceStack,
    free_port,
    port_open,
    start_services,
    wait_until,
)

# Leases, sweeps and consumer-group timings short enough that each recovery takes seconds, not minutes.
FAST_RECOVERY = {
    "WFA_LEASE_SECONDS": "3",
    "WFA_REDISPATCH_AFTER_SECONDS": "2",
    "WFA_REPAIR_AFTER_SECONDS": "2",
    "WFA_SWEEP_INTERVAL_SECONDS": "0.5",
    "WFA_KAFKA_SESSION_TIMEOUT_MS": "3000",
    "WFA_KAFKA_HEARTBEAT_INTERVAL_MS": "300",
}
SERVER_START_TIMEOUT = 120.0
# Long enough for a takeover (lease + sweep + a consumer-group rebalance) on a loaded CI machine.
RECOVERY_TIMEOUT = 60.0


@dataclass(frozen=True)
class Rig:
    mongo: EmbeddedMongo
    kafka: EmbeddedKafka
    stack: ServiceStack

    def stop_server(self, server: EmbeddedServer) -> None:
        server.stop()
        wait_until(lambda: not port_open(server.host, server.port), 10.0, what=f"{server.name} port released")

    def start_server(self, server: EmbeddedServer) -> None:
        if not server.is_running():
            server.start(SERVER_START_TIMEOUT)

    def restore(self) -> None:
        """Start whatever is down and wait until every service is ready again."""
        for server in (self.mongo, self.kafka):
            self.start_server(server)
        for process in self.stack:
            if not process.is_running():
                process.start()
        self.stack.wait_ready(STACK_START_TIMEOUT)


@pytest.fixture(scope="package")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp("failures")
    mongo = EmbeddedMongo(free_port(), workdir / "mongo-data", workdir / "mongo.log", die_with_parent=True)
    kafka = EmbeddedKafka(free_port(), workdir / "kafka.log", die_with_parent=True)
    try:
        for server in (mongo, kafka):
            server.launch()
        for server in (mongo, kafka):
            server.wait_ready(SERVER_START_TIMEOUT)
        stack = start_services(
            mongo.url_for("wfa_failures"),
            kafka.bootstrap,
            f"e2e-failures.{uuid.uuid4().hex[:12]}.",
            extra_env=E2E_ENV | FAST_RECOVERY,
            log_dir=workdir / "services",
            timeout=STACK_START_TIMEOUT,
        )
        with stack:
            yield Rig(mongo, kafka, stack)
    finally:
        kafka.stop()
        mongo.stop()


@pytest.fixture(scope="package")
def rig_stack(rig: Rig) -> ServiceStack:
    """The rig's services, under a name the e2e report hook recognises (their logs are added to a failure)."""
    return rig.stack


@pytest.fixture(scope="package")
async def rig_api(rig: Rig) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=rig.stack.api_url, timeout=30.0) as client:
        yield client


@pytest.fixture(autouse=True)
def _rig_restored(request: pytest.FixtureRequest, rig_stack: ServiceStack) -> Iterator[None]:
    yield
    request.getfixturevalue("rig").restore()


def log_lines(process: ServiceProcess, *parts: str) -> list[str]:
    """The lines of the process's log (its current run) that contain every one of `parts`."""
    return [line for line in process.log_text().splitlines() if all(part in line for part in parts)]


async def wait_for_log(process: ServiceProcess, *parts: str, within: float = RECOVERY_TIMEOUT) -> str:
    """The first line of the process's log (its current run) holding every one of `parts`, once there is one."""

    async def lines() -> list[str]:
        return log_lines(process, *parts)

    found = await poll(lines, bool, what=f"a line with {parts} in the log of {process.script}", within=within)
    return found[0]
