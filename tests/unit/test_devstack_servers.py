"""The embedded MongoDB's addresses: what a client built from them asks of the server."""

from __future__ import annotations

from pathlib import Path

from pymongo.uri_parser import parse_uri

from wfa_devstack import EmbeddedMongo


def test_embedded_mongo_addresses_turn_retryable_writes_off(tmp_path: Path) -> None:
    mongo = EmbeddedMongo(27999, None, tmp_path / "mongo.log")

    server = parse_uri(mongo.url)
    named = parse_uri(mongo.url_for("wfa_x"))

    assert server["database"] is None
    assert named["database"] == "wfa_x"
    assert named["nodelist"] == server["nodelist"] == [("127.0.0.1", 27999)]
    assert server["options"]["retryWrites"] is False
    assert named["options"]["retryWrites"] is False
