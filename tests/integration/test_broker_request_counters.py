"""The embedded broker's own request counters, as the bench's `cost` scenario reads them: Tansu exports them over
OTLP to the bench's receiver, and a produce request is counted once whatever it carries."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from bench.otlp_sink import OtlpSink

from wfa_devstack import EmbeddedKafka
from wfa_devstack.net import free_port

pytestmark = pytest.mark.integration


async def test_the_broker_counts_one_produce_request_per_batch_not_per_message(tmp_path: Path) -> None:
    with OtlpSink() as sink:
        broker = EmbeddedKafka(
            free_port(),
            tmp_path / "kafka.log",
            die_with_parent=True,
            metrics_endpoint=sink.endpoint,
            metrics_interval_ms=200,
        )
        await asyncio.to_thread(broker.start)
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=0)
        try:
            await producer.start()
            await producer.send_and_wait("counted", b"warm-up")  # creates the topic
            before = await sink.fresh_broker_requests(timeout=10)
            for i in range(5):
                await producer.send_and_wait("counted", f"one at a time {i}".encode())
            batch = producer.create_batch()
            for i in range(20):
                batch.append(key=None, value=f"together {i}".encode(), timestamp=None)
            await (await producer.send_batch(batch, "counted", partition=0))
            after = await sink.fresh_broker_requests(timeout=10)
        finally:
            await producer.stop()
            await asyncio.to_thread(broker.stop)

    assert before is not None and after is not None
    assert after["produce"] - before["produce"] == 6
