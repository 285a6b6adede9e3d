"""The `wfa` console script: the application with every command registered."""

from __future__ import annotations

from wfa_cli import definition_commands, execution_commands, workflow_commands
from wfa_cli.app import Runtime, app

# Importing the command modules registers their commands on `app`.
COMMAND_MODULES = (definition_commands, workflow_commands, execution_commands)


def main() -> None:
    app(prog_name="wfa", obj=Runtime())
