"""The one place where aiokafka's failures become the domain's DependencyUnavailable or MessageRejected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka.errors import CorruptRecordException, KafkaError, MessageSizeTooLargeError, RecordListTooLargeError

from wfa.domain.errors import DependencyUnavailable, MessageRejected

KAFKA = "kafka"

# What "the broker cannot be reached or did not answer in time" looks like from aiokafka: its own error
# hierarchy (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, ...), a socket error that slipped
# through, or our own deadline running out.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (KafkaError, OSError, TimeoutError)

# What "this message will never be accepted" looks like: too large for the producer's max_request_size (raised by
# aiokafka before sending) or for the broker's limit, or refused as corrupt. Only errors about the message itself:
# a broker-wide refusal (authorization, a missing topic) may be fixed by an operator, so it stays transient.
REJECTED_ERRORS: tuple[type[BaseException], ...] = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
)


@asynccontextmanager
async def kafka_call(what: str, timeout_seconds: float) -> AsyncIterator[None]:
    """Bound the block to `timeout_seconds` and turn any broker failure inside it into DependencyUnavailable, or
    into MessageRejected when the message itself is refused for good.

    The deadline is ours, not only aiokafka's: some of its waits (bootstrap against an address that drops
    packets, metadata for a topic that is never created) are not covered by `request_timeout_ms`.
    """
    try:
        async with asyncio.timeout(timeout_seconds):
            yield
    except TimeoutError as exc:
        raise DependencyUnavailable(KAFKA, f"{what}: no answer within {timeout_seconds:g}s") from exc
    except REJECTED_ERRORS as exc:
        raise MessageRejected(KAFKA, f"{what}: {exc!r}") from exc
    except TRANSIENT_ERRORS as exc:
        raise DependencyUnavailable(KAFKA, f"{what}: {exc!r}") from exc
