"""The local stack itself: the session servers answer, and the devstack CLI's `up`/`down` and the service
supervisor keep their promises (idempotent start, stop only what was started, Ctrl-C reaches every child)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import MongoClient, monitoring

from wfa_devstack import EmbeddedKafka, StackConfig, down, free_port, kafka_responds, mongo_responds, up

pytestmark = pytest.mark.integration


def test_mongo_url_names_a_database_of_this_run(mongo_url: str) -> None:
    client: MongoClient[dict[str, object]] = MongoClient(mongo_url, serverSelectionTimeoutMS=10_000)
    try:
        database = client.get_default_database()
        database.checks.insert_one({"_id": "devstack", "ok": True})

        assert database.name.startswith("wfa_test_")
        assert database.checks.find_one({"_id": "devstack"}) == {"_id": "devstack", "ok": True}
    finally:
        client.close()


def test_fresh_mongo_url_is_an_empty_database(mongo_url: str, fresh_mongo_url: str) -> None:
    client: MongoClient[dict[str, object]] = MongoClient(fresh_mongo_url, serverSelectionTimeoutMS=10_000)
    try:
        database = client.get_default_database()

        assert fresh_mongo_url != mongo_url
        assert database.list_collection_names() == []
    finally:
        client.close()


async def test_kafka_bootstrap_carries_a_message_from_producer_to_consumer(
    kafka_bootstrap: str, unique_prefix: str
) -> None:
    topic = f"{unique_prefix}devstack-check"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"devstack")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", group_id=f"{unique_prefix}group"
    )
    await consumer.start()
    try:
        message = await consumer.getone()
    finally:
        await consumer.stop()

    assert (message.key, message.value) == (b"devstack", b"hello")


@pytest.fixture
def stack(tmp_path: Path) -> StackConfig:
    return StackConfig(
        state_dir=tmp_path / "devstack", kafka_port=free_port(), mongo_port=free_port(), mongo_in_memory=True
    )


def test_up_starts_both_servers_and_a_second_up_changes_nothing(stack: StackConfig) -> None:
    try:
        up(stack, report=lambda _: None)
        pids = {server.name: stack.pidfile(server).live_pid() for server in stack.servers()}
        messages: list[str] = []
        up(stack, report=messages.append)

        assert mongo_responds(stack.host, stack.mongo_port)
        assert kafka_responds(stack.host, stack.kafka_port)
        assert all(pid is not None for pid in pids.values())
        assert {server.name: stack.pidfile(server).live_pid() for server in stack.servers()} == pids
        assert all("already answering" in message for message in messages)
    finally:
        down(stack, report=lambda _: None)

    assert not mongo_responds(stack.host, stack.mongo_port)
    assert not kafka_responds(stack.host, stack.kafka_port)


def test_down_leaves_alone_a_server_it_did_not_start(stack: StackConfig, tmp_path: Path) -> None:
    foreign = EmbeddedKafka(stack.kafka_port, tmp_path / "foreign-kafka.log").start()
    try:
        up(stack, report=lambda _: None)
        down(stack, report=lambda _: None)

        assert kafka_responds(stack.host, stack.kafka_port)
        assert not mongo_responds(stack.host, stack.mongo_port)
    finally:
        foreign.stop()


_CHILD = textwrap.dedent(
    """
    import signal, sys, time
    def stop(signum, frame):
        print("stopped by", signal.Signals(signum).name, flush=True)
        sys.exit(0)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    while True:
        time.sleep(0.05)
    """
)


def _run_supervisor(tmp_path: Path, *commands: str) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "wfa_devstack", "run-services", "--grace", "5"]
    for command in commands:
        args += ["--cmd", command]
    return subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_output(path: Path, text: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count(text) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not seen {count} times in {path}")


def test_supervisor_passes_one_sigint_to_every_child(tmp_path: Path) -> None:
    (tmp_path / "child.py").write_text(_CHILD)
    out_a, out_b = tmp_path / "a.out", tmp_path / "b.out"
    supervisor = _run_supervisor(
        tmp_path,
        f"sh -c 'exec {sys.executable} child.py > {out_a}'",
        f"sh -c 'exec {sys.executable} child.py > {out_b}'",
    )
    _wait_for_output(out_a, "ready", 1)
    _wait_for_output(out_b, "ready", 1)

    os.kill(supervisor.pid, signal.SIGINT)
    output, _ = supervisor.communicate(timeout=30)

    assert supervisor.returncode == 128 + signal.SIGINT
    assert out_a.read_text().splitlines() == ["ready", "stopped by SIGINT"], output
    assert out_b.read_text().splitlines() == ["ready", "stopped by SIGINT"], output


def test_supervisor_stops_the_others_when_one_child_dies(tmp_path: Path) -> None:
    (tmp_path / "child.py").write_text(_CHILD)
    out = tmp_path / "survivor.out"
    supervisor = _run_supervisor(
        tmp_path,
        f"sh -c 'exec {sys.executable} child.py > {out}'",
        f"{sys.executable} -c 'import sys, time; time.sleep(1); sys.exit(3)'",
    )

    output, _ = supervisor.communicate(timeout=30)

    assert supervisor.returncode == 3, output
    assert out.read_text().splitlines() == ["ready", "stopped by SIGTERM"], output


def test_writes_through_the_test_mongo_url_are_not_retryable(use_docker: bool, mongo_url: str) -> None:
    # SecantusDB stores every retryable write's reply and walks them all on each such write (docs/local-stack.md).
    if use_docker:
        pytest.skip("only the embedded server's address turns retryable writes off")
    listener = _CommandLog()
    client: MongoClient[dict[str, object]] = MongoClient(
        mongo_url, serverSelectionTimeoutMS=10_000, event_listeners=[listener]
    )
    try:
        checks = client.get_default_database().retry_checks
        checks.insert_one({"_id": "retry"})
        checks.update_one({"_id": "retry"}, {"$set": {"n": 1}})
        checks.find_one_and_update({"_id": "retry"}, {"$inc": {"n": 1}})
        checks.delete_one({"_id": "retry"})
    finally:
        client.close()

    writes = [command for name, command in listener.commands if name in {"insert", "update", "findAndModify", "delete"}]
    assert len(writes) == 4
    assert all("txnNumber" not in command for command in writes)


class _CommandLog(monitoring.CommandListener):
    def __init__(self) -> None:
        self.commands: list[tuple[str, dict[str, object]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands.append((event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass
