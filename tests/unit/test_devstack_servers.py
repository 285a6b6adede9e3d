"""The embedded MongoDB's addresses: what a client built from them asks of the server."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymongo.uri_parser import parse_uri

from wfa_devstack import EmbeddedKafka, EmbeddedMongo, with_database


def test_embedded_mongo_addresses_turn_retryable_writes_off(tmp_path: Path) -> None:
    mongo = EmbeddedMongo(27999, None, tmp_path / "mongo.log")

    server = parse_uri(mongo.url)
    named = parse_uri(mongo.url_for("wfa_x"))

    assert server["database"] is None
    assert named["database"] == "wfa_x"
    assert named["nodelist"] == server["nodelist"] == [("127.0.0.1", 27999)]
    assert server["options"]["retryWrites"] is False
    assert named["options"]["retryWrites"] is False


def test_embedded_kafka_exports_its_counters_only_when_given_an_endpoint(tmp_path: Path) -> None:
    quiet = EmbeddedKafka(29999, tmp_path / "kafka.log")
    exporting = EmbeddedKafka(
        29999, tmp_path / "kafka.log", metrics_endpoint="http://127.0.0.1:4318", metrics_interval_ms=250
    )

    assert "--otlp-endpoint-url" not in quiet.argv()
    assert "OTEL_METRIC_EXPORT_INTERVAL" not in quiet._env()
    argv = exporting.argv()
    assert argv[argv.index("--otlp-endpoint-url") + 1] == "http://127.0.0.1:4318"
    assert exporting._env()["OTEL_METRIC_EXPORT_INTERVAL"] == "250"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mongodb://127.0.0.1:27017", "mongodb://127.0.0.1:27017/run"),
        ("mongodb://127.0.0.1:27017/", "mongodb://127.0.0.1:27017/run"),
        ("mongodb://127.0.0.1:27017/wfa", "mongodb://127.0.0.1:27017/run"),
        ("mongodb://h:1/?retryWrites=false", "mongodb://h:1/run?retryWrites=false"),
        ("mongodb://[::1]:27017/?tls=true", "mongodb://[::1]:27017/run?tls=true"),
        (
            "mongodb+srv://cluster.example.net/wfa?retryWrites=true",
            "mongodb+srv://cluster.example.net/run?retryWrites=true",
        ),
        # A user logs in where the address said, not to the run's database.
        ("mongodb://u:p@a:1,b:2/wfa?replicaSet=rs0", "mongodb://u:p@a:1,b:2/run?replicaSet=rs0&authSource=wfa"),
        ("mongodb://u:p@h:1", "mongodb://u:p@h:1/run?authSource=admin"),
        ("mongodb://u:p@h:1/wfa?authSource=users", "mongodb://u:p@h:1/run?authSource=users"),
    ],
)
def test_with_database_names_the_database_and_keeps_the_rest(url: str, expected: str) -> None:
    assert with_database(url, "run") == expected
