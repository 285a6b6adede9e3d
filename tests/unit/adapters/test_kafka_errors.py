"""How aiokafka's failures reach the callers: an outage may be retried, a message refused for good may not."""

from __future__ import annotations

import pytest
from aiokafka.errors import (
    CorruptRecordException,
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    RecordListTooLargeError,
)

from wfa.adapters.kafka.errors import kafka_call
from wfa.domain.errors import DependencyUnavailable, MessageRejected


@pytest.mark.parametrize(
    "error",
    [MessageSizeTooLargeError("too big"), RecordListTooLargeError(), CorruptRecordException()],
    ids=lambda error: type(error).__name__,
)
async def test_a_message_the_broker_refuses_for_good_is_rejected(error: Exception) -> None:
    with pytest.raises(MessageRejected, match="publishing"):
        async with kafka_call("publishing to t", 1.0):
            raise error


@pytest.mark.parametrize(
    "error",
    [KafkaConnectionError(), KafkaTimeoutError(), NotLeaderForPartitionError(), ConnectionResetError(), TimeoutError()],
    ids=lambda error: type(error).__name__,
)
async def test_an_outage_is_a_dependency_unavailable(error: Exception) -> None:
    with pytest.raises(DependencyUnavailable):
        async with kafka_call("publishing to t", 1.0):
            raise error
