"""Poison messages on the requests topic, through the real runner process: each lands in the dead-letter topic
byte for byte with the reason in a header, and the runner keeps consuming (the valid request behind them on the
same partition runs)."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from tests.e2e.helpers import create_manual_workflow, log_action, run_to_end

from wfa.adapters.kafka import DLQ_REASON, DLQ_SOURCE_TOPIC, GroupConsumer
from wfa.settings import Settings
from wfa_devstack import ServiceStack

pytestmark = pytest.mark.e2e

READ_DEADLINE = 60.0


async def _dead_letters_holding(settings: Settings, markers: set[bytes]) -> dict[bytes, ConsumerRecord]:
    """The dead letters whose value contains each marker, read from the start of the topic by a group of its own."""
    reader = GroupConsumer(settings, topic=settings.dlq_topic, group_id=f"e2e-dlq-reader-{uuid.uuid4().hex[:8]}")
    await reader.start()
    found: dict[bytes, ConsumerRecord] = {}
    try:
        give_up = time.monotonic() + READ_DEADLINE
        while set(found) != markers:
            assert time.monotonic() < give_up, f"dead letters found for {sorted(found)} of {sorted(markers)}"
            for record in await reader.getmany(timeout_ms=200):
                found.update({marker: record for marker in markers if record.value and marker in record.value})
    finally:
        await reader.stop()
    return found


async def test_garbage_is_dead_lettered_and_the_runner_keeps_consuming(
    api: httpx.AsyncClient, services: ServiceStack, kafka_bootstrap: str
) -> None:
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=services.runner.env["WFA_TOPIC_PREFIX"])
    workflow_id = await create_manual_workflow(api, "after-poison", log_action("after the poison"))
    not_json = f"{{not json {uuid.uuid4().hex}".encode()
    wrong_schema = json.dumps({"schemaVersion": 99, "marker": uuid.uuid4().hex}).encode()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        # Keyed like the request that follows: one partition, the poison first.
        for value in (not_json, wrong_schema):
            await producer.send_and_wait(settings.requests_topic, value, key=workflow_id.encode())
    finally:
        await producer.stop()

    execution = await run_to_end(api, workflow_id)
    letters = await _dead_letters_holding(settings, {not_json, wrong_schema})

    assert execution["status"] == "succeeded", execution
    for value, letter in letters.items():
        headers = dict(letter.headers)
        assert letter.value == value
        assert letter.key == workflow_id.encode()
        assert headers[DLQ_REASON].decode().startswith("not an ExecutionRequest"), headers
        assert headers[DLQ_SOURCE_TOPIC].decode() == settings.requests_topic
    services.runner.check_running()
