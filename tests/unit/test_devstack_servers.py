"""The embedded MongoDB's addresses: what a client built from them asks of the server."""

from __future__ import annotations

from pathlib import Path

from pymongo.uri_parser import parse_uri

from wfa_devstack import EmbeddedKafka, EmbeddedMongo


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
