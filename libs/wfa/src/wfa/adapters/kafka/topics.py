"""Topic creation at start-up.

The contract lets a service start against a fresh topic prefix, so each service creates the topics it uses
instead of waiting for another one to (or relying on broker-side auto-creation, which production Kafka
usually disables and which would pick the broker's default partition count).
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from wfa.adapters.kafka.errors import KAFKA, kafka_call
from wfa.domain.errors import DependencyUnavailable
from wfa.settings import Settings

log = structlog.get_logger(__name__)

_NO_ERROR = 0
_TOPIC_ALREADY_EXISTS = 36


async def ensure_topics(settings: Settings, names: Sequence[str]) -> None:
    """Create each topic in `names` that does not exist yet, with `kafka_partitions` partitions.

    Idempotent and safe to race: several services starting at once may all ask, and "already exists" counts as
    success. An existing topic is left as it is, whatever its partition count. Raises DependencyUnavailable when
    the cluster cannot be reached or refuses a topic.
    """
    if not names:
        return
    wanted = list(dict.fromkeys(names))
    timeout = settings.kafka_request_timeout_ms / 1000
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=f"{settings.kafka_client_id}-admin",
        request_timeout_ms=settings.kafka_request_timeout_ms,
    )
    try:
        async with kafka_call("creating topics", timeout):
            await admin.start()
            response = await admin.create_topics(
                [NewTopic(name, settings.kafka_partitions, settings.kafka_replication_factor) for name in wanted],
                timeout_ms=settings.kafka_request_timeout_ms,
            )
    finally:
        await admin.close()

    created: list[str] = []
    for entry in response.to_object()["topic_errors"]:
        code = entry["error_code"]
        if code == _NO_ERROR:
            created.append(entry["topic"])
        elif code != _TOPIC_ALREADY_EXISTS:
            detail = entry.get("error_message") or "no message"
            raise DependencyUnavailable(KAFKA, f"cannot create topic {entry['topic']!r}: error {code} ({detail})")
    if created:
        log.info("kafka topics created", topics=created, partitions=settings.kafka_partitions)
