"""`python -m bench --mongo-url --kafka-bootstrap`: the bench measures the services on servers already running
(a real MongoDB replica set and Kafka, say) instead of starting embedded ones, and leaves those servers as they
were, but for a database and topics of the run's own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pymongo import MongoClient

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def test_the_bench_runs_on_the_servers_it_is_given(mongo_server_url: str, kafka_bootstrap: str, tmp_path: Path) -> None:
    with MongoClient(mongo_server_url) as client:
        databases_before = set(client.list_database_names())

    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--scenario",
            "latency",
            "--latency-executions",
            "3",
            "--latency-warmup",
            "0",
            "--scenario",
            "cost",
            "--cost-executions",
            "2",
            "--idle-seconds",
            "0.5",
            "--mongo-url",
            mongo_server_url,
            "--kafka-bootstrap",
            kafka_bootstrap,
            "--results-dir",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert finished.returncode == 0, finished.stderr[-3000:]
    report = json.loads(finished.stdout)
    assert report["environment"]["mongodb"] == {"server": f"given: {mongo_server_url}"}
    assert report["environment"]["kafka"] == {"server": f"given: {kafka_bootstrap}"}
    assert report["scenarios"]["latency"]["server_ms"]["count"] == 3
    # The services' own counts stay; the broker's counters come only from an embedded broker.
    cost = report["scenarios"]["cost"]["per_execution"]
    assert cost["kafka_messages_produced"]["total"] == 4
    assert cost["mongodb_commands"]["total"] > 0
    assert cost["kafka_requests_at_broker"] is None
    # No embedded server was started: none left a log, and no server process was measured.
    (run_dir,) = tmp_path.iterdir()
    assert not {"mongo.log", "kafka.log"} & {path.name for path in run_dir.iterdir()}
    assert not {name for name in report["scenarios"]["latency"]["cpu_ms_per_execution"] if name.endswith(" server")}
    with MongoClient(mongo_server_url) as client:
        (created,) = set(client.list_database_names()) - databases_before
        assert created.startswith("wfa_bench_")
        assert client[created]["executions"].count_documents({}) == 3 + 2
