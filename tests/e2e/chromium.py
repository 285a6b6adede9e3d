"""Finding a Chromium for the dashboard's browser tests, on any machine `make test` runs on.

Playwright's own download is not reachable everywhere (it is not on PyPI), so the system's Chromium is used when
Playwright has none; on a fresh Debian machine, as root (CI), Debian's `chromium` package is installed once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

DEBIAN_PACKAGE = "chromium"
SYSTEM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_TIMEOUT = 900.0


class NoChromium(RuntimeError):
    pass


def system_chromium() -> str | None:
    for name in SYSTEM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def find_chromium(playwright_path: str | None) -> str:
    """A Chromium executable: Playwright's own if it downloaded one, else the system's, else Debian's package
    installed now (root only). Raises NoChromium with one line naming the package to install."""
    if playwright_path and Path(playwright_path).exists():
        return playwright_path
    found = system_chromium()
    if found:
        return found
    if os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get"):
        _install_debian_chromium()
        found = system_chromium()
        if found:
            return found
    raise NoChromium(
        f"the dashboard tests need Chromium: install Debian's `{DEBIAN_PACKAGE}` package "
        f"(sudo apt-get install -y {DEBIAN_PACKAGE}) or run `playwright install chromium`"
    )


def _install_debian_chromium() -> None:
    # Straight to the terminal: pytest captures fixtures' output, and a silent minute of apt looks like a hang.
    print(
        f"\n[dashboard tests] no Chromium found: installing Debian's {DEBIAN_PACKAGE} package (apt-get)…",
        file=sys.__stderr__,
        flush=True,
    )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", DEBIAN_PACKAGE]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
        if result.returncode != 0:
            raise NoChromium(f"`{' '.join(command)}` failed ({result.returncode}): {result.stderr.strip()[-300:]}")
    print(f"[dashboard tests] installed {DEBIAN_PACKAGE}", file=sys.__stderr__, flush=True)
