"""The local dependency stack: both embedded servers on their default ports, started detached and
recorded in pidfiles under a state directory, so that `down` stops exactly what `up` started."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wfa_devstack.net import LOCALHOST, port_open
from wfa_devstack.process import PidFile, terminate
from wfa_devstack.servers import EmbeddedKafka, EmbeddedMongo, EmbeddedServer, ServerStartError

DEFAULT_KAFKA_PORT = 9092
DEFAULT_MONGO_PORT = 27017
STATE_DIR_NAME = ".devstack"


def find_state_dir(start: Path | None = None) -> Path:
    """`.devstack/` at the root of the repository containing `start` (the directory holding uv.lock),
    or in `start` itself outside a repository."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "uv.lock").is_file():
            return candidate / STATE_DIR_NAME
    return here / STATE_DIR_NAME


@dataclass(frozen=True)
class StackConfig:
    state_dir: Path = field(default_factory=find_state_dir)
    host: str = LOCALHOST
    kafka_port: int = DEFAULT_KAFKA_PORT
    mongo_port: int = DEFAULT_MONGO_PORT
    mongo_in_memory: bool = False
    timeout: float = 60.0

    def kafka(self) -> EmbeddedKafka:
        return EmbeddedKafka(self.kafka_port, self.state_dir / "kafka.log", self.host)

    def mongo(self) -> EmbeddedMongo:
        data_dir = None if self.mongo_in_memory else self.state_dir / "mongo-data"
        return EmbeddedMongo(self.mongo_port, data_dir, self.state_dir / "mongo.log", self.host)

    def servers(self) -> list[EmbeddedServer]:
        return [self.mongo(), self.kafka()]

    def pidfile(self, server: EmbeddedServer) -> PidFile:
        return PidFile(self.state_dir / f"{server.name}.pid")


def up(config: StackConfig, report: Callable[[str], None] = print) -> None:
    """Start whichever server does not answer yet and return once both answer.

    A port that already answers its protocol is left alone (ours from an earlier `up`, or anybody's);
    a port taken by something that does not speak the protocol is an error.
    """
    launched: list[EmbeddedServer] = []
    for server in config.servers():
        pidfile = config.pidfile(server)
        where = f"{server.host}:{server.port}"
        if server.responds():
            pid = pidfile.live_pid()
            owner = f"started by devstack, pid {pid}" if pid is not None else "not started by devstack"
            report(f"{server.name}: already answering on {where} ({owner})")
            continue
        if pidfile.live_pid() is None:
            pidfile.remove()
        if port_open(server.host, server.port):
            raise ServerStartError(f"{server.name}: {where} is taken by something that is not {server.name}")
        server.launch()
        assert server.pid is not None
        pidfile.write(server.pid, server.argv())
        launched.append(server)
    try:
        for server in launched:
            server.wait_ready(config.timeout)
            report(f"{server.name}: ready on {server.host}:{server.port} (pid {server.pid}, log {server.log_path})")
    except ServerStartError:
        for server in launched:
            server.stop()
            config.pidfile(server).remove()
        raise


def down(config: StackConfig, report: Callable[[str], None] = print) -> None:
    """Stop the servers whose pidfiles `up` wrote; anything else on the ports is left running."""
    for server in config.servers():
        pidfile = config.pidfile(server)
        pid = pidfile.live_pid()
        if pid is None:
            if pidfile.read() is not None:
                report(f"{server.name}: not running (stale pidfile removed)")
            else:
                report(f"{server.name}: not started by devstack, nothing to stop")
        else:
            terminate(pid)
            report(f"{server.name}: stopped (pid {pid})")
        pidfile.remove()


def status(config: StackConfig, report: Callable[[str], None] = print) -> bool:
    """Report each server's state; True when both answer."""
    all_up = True
    for server in config.servers():
        answering = server.responds()
        all_up = all_up and answering
        pid = config.pidfile(server).live_pid()
        owner = f"devstack pid {pid}" if pid is not None else "not started by devstack"
        state = "answering" if answering else "down"
        report(f"{server.name}: {state} on {server.host}:{server.port} ({owner})")
    return all_up
