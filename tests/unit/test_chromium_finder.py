"""How the dashboard's browser tests find a Chromium (tests/e2e/chromium.py): Playwright's own, the system's, Debian's
package installed as root, or one line naming the package."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.e2e import chromium
from tests.e2e.chromium import NoChromium, find_chromium


@pytest.fixture
def no_system_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chromium.shutil, "which", lambda name: "/usr/bin/apt-get" if name == "apt-get" else None)


def test_playwrights_own_chromium_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own = tmp_path / "chrome"
    own.touch()
    monkeypatch.setattr(chromium.shutil, "which", lambda name: "/usr/bin/chromium")

    assert find_chromium(str(own)) == str(own)


def test_the_systems_chromium_is_used_when_playwright_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chromium.shutil, "which", lambda name: "/usr/bin/chromium" if name == "chromium" else None)

    assert find_chromium("/nowhere/chrome") == "/usr/bin/chromium"


@pytest.mark.usefixtures("no_system_chromium")
def test_without_root_it_fails_with_one_line_naming_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chromium.os, "geteuid", lambda: 1000)

    with pytest.raises(NoChromium) as raised:
        find_chromium(None)

    assert "\n" not in str(raised.value)
    assert "install Debian's `chromium` package" in str(raised.value)


@pytest.mark.usefixtures("no_system_chromium")
def test_as_root_debians_package_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    commands: list[list[str]] = []

    def run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        if command[:2] == ["apt-get", "install"]:
            monkeypatch.setattr(chromium.shutil, "which", lambda name: "/usr/bin/chromium")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(chromium.os, "geteuid", lambda: 0)
    monkeypatch.setattr(chromium.subprocess, "run", run)

    assert find_chromium(None) == "/usr/bin/chromium"
    assert commands == [["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]]
