"""`wfa-devstack`: start and stop the embedded MongoDB and Kafka, run the three services.

wfa-devstack up [--mongo-port 27017] [--kafka-port 9092] [--mongo-in-memory]
wfa-devstack down
wfa-devstack status
wfa-devstack run-services [--cmd "COMMAND" ...]
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from wfa_devstack.servers import ServerStartError
from wfa_devstack.stack import DEFAULT_KAFKA_PORT, DEFAULT_MONGO_PORT, StackConfig, down, find_state_dir, status, up
from wfa_devstack.supervisor import Command, supervise

#: The three processes of the contract and the port each one serves by default.
SERVICES: dict[str, int] = {"workflows-svc": 8080, "scheduler-svc": 8081, "runner-svc": 8082}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wfa-devstack", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where pidfiles, logs and MongoDB data go (default: .devstack/ at the repository root)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    up_cmd = sub.add_parser("up", help="start MongoDB and Kafka unless they already answer; wait until both do")
    up_cmd.add_argument("--host", default="127.0.0.1")
    up_cmd.add_argument("--mongo-port", type=int, default=DEFAULT_MONGO_PORT)
    up_cmd.add_argument("--kafka-port", type=int, default=DEFAULT_KAFKA_PORT)
    up_cmd.add_argument(
        "--mongo-in-memory",
        action="store_true",
        help="keep MongoDB data in a temporary directory dropped at shutdown (Kafka is always in memory)",
    )
    up_cmd.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each server")

    for name, text in (("down", "stop the servers that `up` started"), ("status", "show what answers")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--host", default="127.0.0.1")
        cmd.add_argument("--mongo-port", type=int, default=DEFAULT_MONGO_PORT)
        cmd.add_argument("--kafka-port", type=int, default=DEFAULT_KAFKA_PORT)

    run = sub.add_parser("run-services", help="run the three services in the foreground until Ctrl-C")
    run.add_argument(
        "--cmd",
        dest="commands",
        action="append",
        default=None,
        metavar="COMMAND",
        help="run this shell-quoted command instead of the services (repeatable; for trying the supervisor)",
    )
    run.add_argument("--grace", type=float, default=20.0, help="seconds to wait for a clean stop before SIGKILL")
    return parser


def _config(args: argparse.Namespace) -> StackConfig:
    return StackConfig(
        state_dir=args.state_dir or find_state_dir(),
        host=args.host,
        kafka_port=args.kafka_port,
        mongo_port=args.mongo_port,
        mongo_in_memory=getattr(args, "mongo_in_memory", False),
        timeout=getattr(args, "timeout", 60.0),
    )


def _service_commands() -> list[Command]:
    bin_dir = Path(sys.executable).parent
    commands = []
    for script, port in SERVICES.items():
        path = bin_dir / script
        found = str(path) if path.exists() else shutil.which(script)
        if found is None:
            raise SystemExit(f"wfa-devstack: {script} is not installed (run `make install`)")
        # Each service gets its own contract port even if WFA_HTTP_PORT is set for the whole shell.
        commands.append(Command(name=script, argv=[found], env={"WFA_HTTP_PORT": str(port)}))
    return commands


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run-services":
        if args.commands:
            commands = [Command(name=f"cmd{i}", argv=shlex.split(cmd)) for i, cmd in enumerate(args.commands, 1)]
        else:
            commands = _service_commands()
        return supervise(commands, grace=args.grace)

    def report(message: str) -> None:
        print(f"wfa-devstack: {message}", flush=True)

    config = _config(args)
    try:
        if args.command == "up":
            up(config, report)
        elif args.command == "down":
            down(config, report)
        elif args.command == "status":
            return 0 if status(config, report) else 1
    except (ServerStartError, TimeoutError) as exc:
        print(f"wfa-devstack: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
