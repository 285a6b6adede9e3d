"""Protocol-level checks: does a port speak Kafka, does it speak MongoDB.

A TCP accept alone does not tell a broker that is ready from an unrelated program on the same port.
"""

from __future__ import annotations

import socket
import struct

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from wfa_devstack.net import port_open

_API_VERSIONS = 18
_CORRELATION_ID = 0x0DE75AC4


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        chunks += chunk
    return bytes(chunks)


def kafka_responds(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when host:port answers a Kafka ApiVersions (v0) request without error."""
    client_id = b"wfa-devstack"
    body = struct.pack(">hhih", _API_VERSIONS, 0, _CORRELATION_ID, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(body)) + body)
            (size,) = struct.unpack(">i", _read_exact(sock, 4))
            if size < 6:
                return False
            correlation_id, error_code = struct.unpack(">ih", _read_exact(sock, 6))
            return bool(correlation_id == _CORRELATION_ID and error_code == 0)
    except (OSError, struct.error):
        return False


def mongo_responds(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when host:port answers a MongoDB `ping`."""
    # pymongo would retry a refused connection for its whole selection timeout; a closed port is a quick no.
    if not port_open(host, port, timeout):
        return False
    timeout_ms = int(timeout * 1000)
    client: MongoClient[dict[str, object]] = MongoClient(
        host,
        port,
        directConnection=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms,
    )
    try:
        reply = client.admin.command("ping")
        return bool(reply.get("ok"))
    except PyMongoError:
        return False
    finally:
        client.close()
