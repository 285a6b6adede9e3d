"""What a report says it measured on."""

from pathlib import Path

import pytest
from bench.environment import environment, shown_address


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("mongodb://127.0.0.1:27017/wfa", "mongodb://127.0.0.1:27017/wfa"),
        ("mongodb://bench:s3cret@db:27017/?authSource=admin", "mongodb://bench:***@db:27017/?authSource=admin"),
        (
            "mongodb://db/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:abc"
            "&tlsCertificateKeyFilePassword=pw&tls=true",
            "mongodb://db/?authMechanism=MONGODB-AWS&authMechanismProperties=***&tlsCertificateKeyFilePassword=***"
            "&tls=true",
        ),
    ],
)
def test_a_secret_in_a_given_address_is_not_reported(url: str, shown: str) -> None:
    assert shown_address(url) == shown


def test_the_environment_names_given_servers_instead_of_the_embedded_ones(tmp_path: Path) -> None:
    embedded = environment(tmp_path)
    given = environment(tmp_path, mongo_url="mongodb://u:pw@db:27017", kafka_bootstrap="kafka:9092")

    assert "SecantusDB" in embedded["mongodb"]["server"] and "Tansu" in embedded["kafka"]["server"]
    assert given["mongodb"] == {"server": "given: mongodb://u:***@db:27017"}
    assert given["kafka"] == {"server": "given: kafka:9092"}
