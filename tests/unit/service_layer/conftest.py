"""The triggering dependencies over in-memory repositories, a recording publisher and a fake clock."""

from __future__ import annotations

from itertools import count

import pytest
from tests.unit.fakes import START, RecordingPublisher

from wfa.adapters.memory import InMemoryExecutionRepository, InMemoryWorkflowRepository
from wfa.domain.clock import FakeClock
from wfa.service_layer.triggering import Triggering


@pytest.fixture
def deps() -> Triggering:
    ids = count(1)
    return Triggering(
        workflows=InMemoryWorkflowRepository(),
        executions=InMemoryExecutionRepository(),
        publisher=RecordingPublisher(),
        clock=FakeClock(START),
        new_id=lambda: f"e{next(ids)}",
    )
