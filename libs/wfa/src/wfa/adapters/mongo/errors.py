"""The one place where PyMongo's failures become the domain's DependencyUnavailable."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from pymongo.errors import ConnectionFailure, ExecutionTimeout, PyMongoError, WTimeoutError

from wfa.domain.errors import DependencyUnavailable

MONGODB = "mongodb"

# "The server cannot be reached or did not answer in time": ConnectionFailure covers AutoReconnect,
# NetworkTimeout, NotPrimaryError, ServerSelectionTimeoutError and WaitQueueTimeoutError; the other two are the
# server's own deadlines. Anything else (a duplicate key, a malformed command) is a bug or a domain outcome and
# propagates as it is.
TRANSIENT_ERRORS: tuple[type[PyMongoError], ...] = (ConnectionFailure, ExecutionTimeout, WTimeoutError)

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def mongo_call(what: str) -> Iterator[None]:
    """Turn a MongoDB outage inside the block into DependencyUnavailable("mongodb", ...)."""
    try:
        yield
    except PyMongoError as exc:
        if isinstance(exc, TRANSIENT_ERRORS) or exc.timeout:
            raise DependencyUnavailable(MONGODB, f"{what}: {exc}") from exc
        raise


def translated(method: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Decorate a repository method: a MongoDB outage during it raises DependencyUnavailable."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with mongo_call(method.__qualname__):
            return await method(*args, **kwargs)

    return wrapper
