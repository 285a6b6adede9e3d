"""Fixtures more than one unit suite needs: a fake clock at START and a recording publisher."""

from __future__ import annotations

import pytest
from tests.unit.fakes import START, RecordingPublisher

from wfa.domain.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()
