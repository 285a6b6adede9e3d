"""wfa, the command line of the workflow automation API (docs/cli.md)."""

from wfa_cli.app import Runtime, Settings, app
from wfa_cli.main import main

__all__ = ["Runtime", "Settings", "app", "main"]
