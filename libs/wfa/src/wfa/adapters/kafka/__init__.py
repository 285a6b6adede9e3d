"""Kafka adapters (aiokafka): topic creation, the publisher, the group consumer. Thin: no business logic."""

from wfa.adapters.kafka.consumer import GroupConsumer
from wfa.adapters.kafka.headers import context_from_headers, trace_headers
from wfa.adapters.kafka.publisher import (
    DLQ_REASON,
    DLQ_SOURCE_OFFSET,
    DLQ_SOURCE_PARTITION,
    DLQ_SOURCE_TOPIC,
    DLQ_TRUNCATED,
    KafkaPublisher,
)
from wfa.adapters.kafka.topics import ensure_topics

__all__ = [
    "DLQ_REASON",
    "DLQ_SOURCE_OFFSET",
    "DLQ_SOURCE_PARTITION",
    "DLQ_SOURCE_TOPIC",
    "DLQ_TRUNCATED",
    "GroupConsumer",
    "KafkaPublisher",
    "context_from_headers",
    "ensure_topics",
    "trace_headers",
]
