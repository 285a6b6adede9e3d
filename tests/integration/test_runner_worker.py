"""The runner's worker against a real Kafka broker, with in-memory repositories standing in for MongoDB.

Each test has a topic prefix and consumer groups of its own, so tests never see each other's messages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from wfa.adapters.kafka import DLQ_REASON, DLQ_SOURCE_TOPIC, GroupConsumer, KafkaPublisher, ensure_topics
from wfa.adapters.memory import InMemoryExecutionRepository, InMemoryWorkflowRepository
from wfa.domain.clock import SystemClock
from wfa.domain.execution import ActionStatus, ExecutionStatus
from wfa.domain.workflow import TriggerStatus, Workflow, WorkflowDefinition
from wfa.events import LifecycleEvent
from wfa.service_layer.triggering import Triggering, trigger_manually
from wfa.settings import Settings
from wfa_runner.actions import LogActionRunner
from wfa_runner.execution_runner import ExecutionRunner
from wfa_runner.lifecycle_events import LifecycleEvents
from wfa_runner.main import consumer_group
from wfa_runner.service import RunnerService
from wfa_runner.worker import Worker

pytestmark = pytest.mark.integration

# A group join on Tansu takes about half the session timeout; the deadlines leave room for a loaded machine.
JOIN_DEADLINE = 30.0
DEADLINE = 30.0


@dataclass
class Runner:
    settings: Settings
    workflows: InMemoryWorkflowRepository
    executions: InMemoryExecutionRepository
    triggering: Triggering


@pytest.fixture
def settings(kafka_bootstrap: str, unique_prefix: str) -> Settings:
    return Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=unique_prefix, kafka_partitions=3)


@pytest.fixture
async def runner(settings: Settings) -> AsyncIterator[Runner]:
    """A runner process minus MongoDB and HTTP: the service, the worker, the use case, the real Kafka adapters."""
    workflows, executions, clock = InMemoryWorkflowRepository(), InMemoryExecutionRepository(), SystemClock()
    publisher = KafkaPublisher(settings)
    consumer = GroupConsumer(settings, topic=settings.requests_topic, group_id=consumer_group(settings))
    events = LifecycleEvents(publisher)
    use_case = ExecutionRunner(
        workflows=workflows,
        executions=executions,
        actions={"log": LogActionRunner()},
        events=events,
        clock=clock,
        owner="integration-runner",
        lease=timedelta(seconds=30),
    )
    worker = Worker(consumer, publisher, use_case.run, concurrency=4, commit_interval=0.2)

    async def prepare() -> None:
        await ensure_topics(settings, [settings.requests_topic, settings.events_topic, settings.dlq_topic])

    service = RunnerService(prepare=prepare, consumer=consumer, worker=worker, grace=5.0)
    await publisher.start()
    service.start()
    try:
        await until(service_ready(service), "the runner's group assignment", JOIN_DEADLINE)
        triggering = Triggering(workflows=workflows, executions=executions, publisher=publisher, clock=clock)
        yield Runner(settings, workflows, executions, triggering)
    finally:
        await service.stop()
        await events.drain(5.0)
        await publisher.stop()


def service_ready(service: RunnerService) -> Callable[[], Awaitable[bool]]:
    async def ready() -> bool:
        try:
            await service.check_assigned()
        except Exception:
            return False
        return True

    return ready


async def until(condition: Callable[[], Awaitable[bool]], what: str, deadline: float = DEADLINE) -> None:
    give_up = time.monotonic() + deadline
    while not await condition():
        assert time.monotonic() < give_up, f"not within {deadline:g}s: {what}"
        await asyncio.sleep(0.05)


async def add_workflow(runner: Runner, workflow_id: str) -> None:
    definition = WorkflowDefinition.model_validate(
        {
            "workflowId": workflow_id,
            "trigger": {"type": "manual"},
            "actions": [{"type": "log", "message": "one"}, {"type": "log", "message": "two"}],
        }
    )
    now = runner.triggering.clock.now()
    await runner.workflows.add(Workflow.create(definition, now=now, next_run_at=None))


async def finished(runner: Runner, execution_id: str) -> None:
    async def done() -> bool:
        return (await runner.executions.get(execution_id)).status.is_final

    await until(done, f"execution {execution_id} finished")


async def read_all(settings: Settings, topic: str, count: int) -> list[ConsumerRecord]:
    reader = GroupConsumer(settings, topic=topic, group_id=f"{settings.topic_prefix}reader")
    await reader.start()
    records: list[ConsumerRecord] = []
    try:
        give_up = time.monotonic() + DEADLINE + JOIN_DEADLINE
        while len(records) < count:
            assert time.monotonic() < give_up, f"read {len(records)} of {count} records of {topic}"
            records += await reader.getmany(timeout_ms=200)
    finally:
        await reader.stop()
    return records


async def test_a_published_request_is_run(runner: Runner) -> None:
    await add_workflow(runner, "wf-run")

    result = await trigger_manually(runner.triggering, "wf-run")
    await finished(runner, result.execution.execution_id)

    execution = await runner.executions.get(result.execution.execution_id)
    assert execution.status is ExecutionStatus.SUCCEEDED
    assert [run.status for run in execution.actions] == [ActionStatus.SUCCEEDED, ActionStatus.SUCCEEDED]
    assert (await runner.workflows.get("wf-run")).trigger.status is TriggerStatus.IDLE
    events = await read_all(runner.settings, runner.settings.events_topic, 4)
    assert [LifecycleEvent.model_validate_json(record.value).type.value for record in events] == [
        "execution.started",
        "action.succeeded",
        "action.succeeded",
        "execution.succeeded",
    ]
    assert {record.key for record in events} == {b"wf-run"}


async def test_garbage_lands_in_the_dead_letter_topic_and_the_next_request_still_runs(runner: Runner) -> None:
    settings = runner.settings
    await add_workflow(runner, "wf-after-garbage")
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        # Same key as the request that follows, so both land on one partition with the garbage first.
        await producer.send_and_wait(settings.requests_topic, b"{definitely not json", key=b"wf-after-garbage")
    finally:
        await producer.stop()

    result = await trigger_manually(runner.triggering, "wf-after-garbage")
    await finished(runner, result.execution.execution_id)

    assert (await runner.executions.get(result.execution.execution_id)).status is ExecutionStatus.SUCCEEDED
    (letter,) = await read_all(settings, settings.dlq_topic, 1)
    headers = dict(letter.headers)
    assert letter.value == b"{definitely not json"
    assert headers[DLQ_REASON].decode().startswith("not an ExecutionRequest of schemaVersion 1")
    assert headers[DLQ_SOURCE_TOPIC].decode() == settings.requests_topic


async def committed_offset(settings: Settings, partition: TopicPartition) -> int | None:
    reader = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=consumer_group(settings), enable_auto_commit=False
    )
    await reader.start()
    try:
        offset: int | None = await reader.committed(partition)
        return offset
    finally:
        await reader.stop()


async def test_a_record_too_large_to_dead_letter_goes_truncated_and_its_partition_moves_on(runner: Runner) -> None:
    settings = runner.settings
    await add_workflow(runner, "wf-after-huge")
    # Tansu takes records of 30 MiB and more; the limit met here is the runner's own producer's (aiokafka's
    # max_request_size, 1 MiB), which the record with its dead-letter headers exceeds.
    huge = b"{" + b"x" * (2 * 1024 * 1024)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        sent = await producer.send_and_wait(settings.requests_topic, huge, key=b"wf-after-huge")
    finally:
        await producer.stop()

    result = await trigger_manually(runner.triggering, "wf-after-huge")
    await finished(runner, result.execution.execution_id)

    (letter,) = await read_all(settings, settings.dlq_topic, 1)
    headers = dict(letter.headers)
    assert headers["wfa-dlq-truncated"] == str(len(huge)).encode()
    assert headers[DLQ_REASON].decode().startswith("not an ExecutionRequest of schemaVersion 1")
    assert letter.value is not None and 0 < len(letter.value) < len(huge) and huge.startswith(letter.value)
    partition = TopicPartition(settings.requests_topic, sent.partition)

    async def moved_on() -> bool:
        offset = await committed_offset(settings, partition)
        return offset is not None and offset >= sent.offset + 2  # past the huge record and the request after it

    await until(moved_on, "the partition's committed offset past the huge record")
