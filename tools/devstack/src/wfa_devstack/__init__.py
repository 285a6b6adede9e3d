"""Embedded MongoDB-wire and Kafka-compatible servers for local development and tests."""

from wfa_devstack.net import free_port, port_open, wait_for_port, wait_until
from wfa_devstack.probes import kafka_responds, mongo_responds
from wfa_devstack.servers import EmbeddedKafka, EmbeddedMongo, EmbeddedServer, ServerStartError
from wfa_devstack.stack import StackConfig, down, status, up
from wfa_devstack.supervisor import Command, supervise

__all__ = [
    "Command",
    "EmbeddedKafka",
    "EmbeddedMongo",
    "EmbeddedServer",
    "ServerStartError",
    "StackConfig",
    "down",
    "free_port",
    "kafka_responds",
    "mongo_responds",
    "port_open",
    "status",
    "supervise",
    "up",
    "wait_for_port",
    "wait_until",
]
