"""Embedded MongoDB-wire and Kafka-compatible servers for local development and tests, and the three services
as subprocesses."""

from wfa_devstack.http_server import BackgroundHttpServer
from wfa_devstack.net import free_port, port_open, wait_for_port, wait_until
from wfa_devstack.probes import kafka_responds, mongo_responds
from wfa_devstack.servers import EmbeddedKafka, EmbeddedMongo, EmbeddedServer, ServerStartError, with_database
from wfa_devstack.services import (
    RUNNER,
    SCHEDULER,
    SERVICE_SCRIPTS,
    WORKFLOWS,
    ServiceError,
    ServiceProcess,
    ServiceStack,
    console_script,
    service_stack,
    start_services,
)
from wfa_devstack.stack import StackConfig, down, status, up
from wfa_devstack.supervisor import Command, supervise

__all__ = [
    "RUNNER",
    "SCHEDULER",
    "SERVICE_SCRIPTS",
    "WORKFLOWS",
    "BackgroundHttpServer",
    "Command",
    "EmbeddedKafka",
    "EmbeddedMongo",
    "EmbeddedServer",
    "ServerStartError",
    "ServiceError",
    "ServiceProcess",
    "ServiceStack",
    "StackConfig",
    "console_script",
    "down",
    "free_port",
    "kafka_responds",
    "mongo_responds",
    "port_open",
    "service_stack",
    "start_services",
    "status",
    "supervise",
    "up",
    "wait_for_port",
    "wait_until",
    "with_database",
]
