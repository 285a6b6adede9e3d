"""Where the services find secret values: `WFA_SECRET_<NAME>` variables, and files `<NAME>` in WFA_SECRETS_DIR
(a directory as Docker secrets and Kubernetes secret volumes mount them). Both are read when a secret is used,
so a rotated file is picked up without a restart.

One implementation for both processes that need secrets: the runner (secrets in actions) and the workflows service
(webhook signatures), each building its source once in its composition root with `build_secret_source`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final

from dotenv import dotenv_values

from wfa.domain.errors import UnreadableSecret
from wfa.domain.secrets import NAME_PATTERN
from wfa.ports.secrets import ListedSecrets
from wfa.settings import Settings

ENV_PREFIX: Final = "WFA_SECRET_"
_NAME = re.compile(NAME_PATTERN)


class EnvironmentSecrets:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def get(self, name: str) -> str | None:
        return self._environ.get(ENV_PREFIX + name)

    def values(self) -> Iterator[str]:
        return (value for key, value in self._environ.items() if key.startswith(ENV_PREFIX))


class DirectorySecrets:
    """One file per secret. A single trailing line break is dropped: `echo value > NAME` writes one, and no
    secret is meant to end with it."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def get(self, name: str) -> str | None:
        # The domain allows only these names; checked again because this one becomes a path.
        if not _NAME.fullmatch(name):
            return None
        path = self._directory / name
        try:
            # Blocking, but a secret file is a few bytes on a local (usually in-memory) file system.
            text = path.read_text(encoding="utf-8")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise UnreadableSecret(name, type(exc).__name__) from None
        return text.removesuffix("\n").removesuffix("\r")

    def values(self) -> Iterator[str]:
        if not self._directory.is_dir():
            return
        for path in sorted(self._directory.iterdir()):
            if not _NAME.fullmatch(path.name):
                continue  # Kubernetes' own entries (..data, ..2026_05_01...) among them
            try:
                value = self.get(path.name)
            except UnreadableSecret:
                continue  # reported when it is used
            if value is not None:
                yield value


class FirstOf:
    """The first source that has the secret wins (the environment before the directory, as `build_secret_source`
    builds it)."""

    def __init__(self, sources: Sequence[ListedSecrets]) -> None:
        self._sources = tuple(sources)

    def values(self) -> Iterator[str]:
        for source in self._sources:
            yield from source.values()

    def get(self, name: str) -> str | None:
        for source in self._sources:
            value = source.get(name)
            if value is not None:
                return value
        return None


def build_secret_source(settings: Settings, environ: Mapping[str, str]) -> FirstOf:
    """WFA_SECRET_* from the environment, then from .env (as for every WFA_ setting), then WFA_SECRETS_DIR."""
    env_file = settings.model_config.get("env_file")
    dotenv = {k: v for k, v in dotenv_values(env_file).items() if v is not None} if isinstance(env_file, str) else {}
    sources: list[ListedSecrets] = [EnvironmentSecrets({**dotenv, **environ})]
    if settings.secrets_dir is not None:
        sources.append(DirectorySecrets(settings.secrets_dir))
    return FirstOf(sources)
