"""In-memory repositories, a fake clock and a recording publisher: the scheduler's jobs one pass at a time."""

from __future__ import annotations

from itertools import count

import pytest
from prometheus_client import CollectorRegistry
from tests.unit.fakes import RecordingPublisher

from wfa.adapters.memory import InMemoryExecutionRepository, InMemoryWorkflowRepository
from wfa.domain.clock import FakeClock
from wfa.service_layer.triggering import Triggering
from wfa_scheduler.metrics import SchedulerMetrics


@pytest.fixture
def deps(clock: FakeClock, publisher: RecordingPublisher) -> Triggering:
    ids = count(1)
    return Triggering(
        workflows=InMemoryWorkflowRepository(),
        executions=InMemoryExecutionRepository(),
        publisher=publisher,
        clock=clock,
        new_id=lambda: f"e{next(ids)}",
    )


@pytest.fixture
def metrics() -> SchedulerMetrics:
    return SchedulerMetrics(CollectorRegistry())
