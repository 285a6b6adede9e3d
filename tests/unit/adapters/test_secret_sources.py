"""Where secret values come from, for the runner and the workflows service alike: `WFA_SECRET_<NAME>` variables,
.env, and files in WFA_SECRETS_DIR."""

from __future__ import annotations

from pathlib import Path

import pytest

from wfa.adapters.secrets import DirectorySecrets, EnvironmentSecrets, FirstOf, build_secret_source
from wfa.domain.errors import ActionFailed, UnreadableSecret
from wfa.settings import Settings


def test_environment_secrets_are_prefixed_variables() -> None:
    source = EnvironmentSecrets({"WFA_SECRET_TOKEN": "t", "WFA_API_KEYS": "not a secret", "TOKEN": "nor this"})

    assert (source.get("TOKEN"), source.get("API_KEYS"), source.get("token")) == ("t", None, None)
    assert list(source.values()) == ["t"]


def test_directory_secrets_are_files_read_when_used(tmp_path: Path) -> None:
    (tmp_path / "TOKEN").write_text("first\n")
    (tmp_path / "..data").mkdir()  # as in a Kubernetes secret volume
    source = DirectorySecrets(tmp_path)

    assert source.get("TOKEN") == "first"  # the trailing line break `echo` adds is not part of it
    (tmp_path / "TOKEN").write_text("rotated")
    assert source.get("TOKEN") == "rotated"
    assert (source.get("MISSING"), source.get("..data"), source.get("../etc/passwd")) == (None, None, None)
    assert list(source.values()) == ["rotated"]


def test_directory_secrets_of_a_missing_directory_are_none(tmp_path: Path) -> None:
    source = DirectorySecrets(tmp_path / "absent")

    assert (source.get("TOKEN"), list(source.values())) == (None, [])


def test_the_first_source_that_has_a_secret_wins(tmp_path: Path) -> None:
    (tmp_path / "TOKEN").write_text("from-file")
    (tmp_path / "ONLY_FILE").write_text("file-only")
    source = FirstOf([EnvironmentSecrets({"WFA_SECRET_TOKEN": "from-env"}), DirectorySecrets(tmp_path)])

    assert (source.get("TOKEN"), source.get("ONLY_FILE"), source.get("NONE")) == ("from-env", "file-only", None)
    assert sorted(source.values()) == ["file-only", "from-env", "from-file"]


def test_the_runner_reads_the_environment_then_dot_env_then_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("WFA_SECRET_A=from-dotenv\nWFA_SECRET_B=from-dotenv\n")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "C").write_text("from-dir")
    settings = Settings(secrets_dir=tmp_path / "dir")

    source = build_secret_source(settings, {"WFA_SECRET_A": "from-env"})

    assert [source.get(name) for name in "ABCD"] == ["from-env", "from-dotenv", "from-dir", None]


def test_an_empty_secrets_dir_setting_means_no_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    # Compose passes an unset variable as an empty one; that must not make the working directory a secret store.
    monkeypatch.setenv("WFA_SECRETS_DIR", "")
    monkeypatch.setenv("WFA_SENSITIVE_HEADERS", "X-Token, X-Signature")

    settings = Settings()

    assert (settings.secrets_dir, settings.sensitive_headers) == (None, ["X-Token", "X-Signature"])


def test_an_unreadable_secret_file_is_an_error_naming_the_secret(tmp_path: Path) -> None:
    (tmp_path / "TOKEN").mkdir()  # not a file: read as missing
    (tmp_path / "BINARY").write_bytes(b"\xff\xfe\x00")
    source = DirectorySecrets(tmp_path)

    assert source.get("TOKEN") is None
    with pytest.raises(UnreadableSecret) as caught:
        source.get("BINARY")

    assert isinstance(caught.value, ActionFailed) and caught.value.kind == "unreadable_secret"
    assert caught.value.name == "BINARY" and caught.value.retryable
