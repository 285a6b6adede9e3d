"""Real MongoDB and Kafka for the tests, started once per session and only when a test asks for them.

With a Docker engine, testcontainers runs mongo:8 (as a single-node replica set) and Kafka; without one, the
embedded servers of wfa_devstack (SecantusDB, Tansu) run on free ports, never the default ones, so a running
`make up` is left alone. WFA_TEST_SERVERS=embedded or =docker forces either.

Fixtures:
- `mongo_url`: a database of its own for this run, `mongodb://127.0.0.1:PORT/wfa_test_<random>`.
- `fresh_mongo_url`: a new, empty database for one test.
- `mongo_server_url`: the server alone, with no database in the URL.
- `kafka_bootstrap`: `host:port` of the broker.
- `unique_prefix`: a topic prefix of the test's own (`test.<random>.`), for `WFA_TOPIC_PREFIX`.
- `store`: a MongoStore on `fresh_mongo_url`, its indexes made.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Generator, Iterator

import pytest
from pymongo import MongoClient
from tests.fuzzing import FUZZ_SECONDS, FUZZ_SEED, BudgetSpent

from wfa.adapters.mongo import MongoStore
from wfa_devstack import EmbeddedKafka, EmbeddedMongo, free_port, mongo_responds, wait_until, with_database

SERVER_START_TIMEOUT = 120.0


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Before hypothesis' own plugin reads the option: every hypothesis test of the run draws from FUZZ_SEED.
    if config.getoption("hypothesis_seed", None) is None:
        config.option.hypothesis_seed = FUZZ_SEED


def pytest_report_header() -> str:
    return f"fuzzing: WFA_FUZZ_SEED={FUZZ_SEED} WFA_FUZZ_SECONDS={FUZZ_SECONDS:g}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Also under -q, which drops the header: a failure's seed must be on screen to be replayed.
    terminalreporter.write_line(f"fuzzing seed: WFA_FUZZ_SEED={FUZZ_SEED} (set it to replay this run)")


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    try:
        return (yield)
    except (BudgetSpent, pytest.skip.Exception) as spent:
        if not BudgetSpent.is_one(spent):
            raise
        pyfuncitem.add_report_section("call", "fuzzing", str(spent))
        return True


def _use_docker() -> bool:
    choice = os.environ.get("WFA_TEST_SERVERS", "auto")
    if choice in ("embedded", "docker"):
        return choice == "docker"
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=5)
        try:
            client.ping()
        finally:
            client.close()
    except Exception:
        return False
    return True


def _random_name(stem: str) -> str:
    return f"{stem}{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def use_docker() -> bool:
    return _use_docker()


@pytest.fixture(scope="session")
def mongo_server_url(use_docker: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if use_docker:
        yield from _mongo_container()
        return
    workdir = tmp_path_factory.mktemp("mongo")
    server = EmbeddedMongo(free_port(), workdir / "data", workdir / "mongo.log", die_with_parent=True)
    server.start(timeout=SERVER_START_TIMEOUT)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mongo_url(mongo_server_url: str) -> str:
    return with_database(mongo_server_url, _random_name("wfa_test_"))


@pytest.fixture
def fresh_mongo_url(mongo_server_url: str) -> str:
    return with_database(mongo_server_url, _random_name("wfa_test_"))


@pytest.fixture(scope="session")
def kafka_bootstrap(use_docker: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if use_docker:
        yield from _kafka_container()
        return
    workdir = tmp_path_factory.mktemp("kafka")
    server = EmbeddedKafka(free_port(), workdir / "kafka.log", die_with_parent=True)
    server.start(timeout=SERVER_START_TIMEOUT)
    try:
        yield server.bootstrap
    finally:
        server.stop()


@pytest.fixture
def unique_prefix() -> str:
    return f"{_random_name('test.')}."


def _mongo_container() -> Iterator[str]:
    from testcontainers.core.container import DockerContainer

    container = DockerContainer("mongo:8").with_command("mongod --replSet rs0 --bind_ip_all").with_exposed_ports(27017)
    with container:
        host, port = container.get_container_host_ip(), int(container.get_exposed_port(27017))
        wait_until(lambda: mongo_responds(host, port), SERVER_START_TIMEOUT, what="mongo container")
        # A replica set, as the embedded server presents itself; clients connect directly, since the member's
        # advertised address is the one inside the container.
        client: MongoClient[dict[str, object]] = MongoClient(host, port, directConnection=True)
        try:
            client.admin.command("replSetInitiate", {"_id": "rs0", "members": [{"_id": 0, "host": "127.0.0.1:27017"}]})
            wait_until(
                lambda: bool(client.admin.command("hello").get("isWritablePrimary")),
                SERVER_START_TIMEOUT,
                what="mongo replica set primary",
            )
        finally:
            client.close()
        yield f"mongodb://{host}:{port}/?directConnection=true"


def _kafka_container() -> Iterator[str]:
    from testcontainers.community.kafka import KafkaContainer

    with KafkaContainer() as container:
        yield str(container.get_bootstrap_server())


@pytest.fixture
async def store(fresh_mongo_url: str) -> AsyncIterator[MongoStore]:
    store = MongoStore.from_url(fresh_mongo_url, timeout_ms=10_000)
    await store.ensure_indexes()
    try:
        yield store
    finally:
        await store.close()
