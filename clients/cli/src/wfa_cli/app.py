"""The Typer application, its shared options and the one place where a command's failure becomes an exit code.

Options shared by every command (`--url`, `--api-key`, `--output`) are accepted before the command and after it
(`wfa apply -f x --output json`); after it wins. The composition root is `Runtime`: how to make the HTTP client
and the clock; `main` passes the real ones, tests their own (`app(obj=Runtime(...))`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Annotated, TextIO

import httpx
import typer

from wfa_cli.client import WorkflowsApi
from wfa_cli.errors import EXIT_FAILED, CliError
from wfa_cli.output import Format, Output
from wfa_cli.watch import Clock

DEFAULT_URL = "http://127.0.0.1:8080"
HTTP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Settings:
    url: str = DEFAULT_URL
    api_key: str | None = None
    output: Format = Format.TEXT


def http_client(settings: Settings) -> httpx.Client:
    headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
    return httpx.Client(base_url=settings.url, headers=headers, timeout=HTTP_TIMEOUT_SECONDS)


@dataclass
class Runtime:
    client_factory: Callable[[Settings], httpx.Client] = http_client
    clock: Clock = field(default_factory=Clock)
    stdin: TextIO | None = None
    settings: Settings = field(default_factory=Settings)
    """The options given before the command (or their environment variables and defaults)."""


@dataclass
class Session:
    api: WorkflowsApi
    output: Output
    runtime: Runtime


# The same three options on the root and on every command; on a command they default to "not given".
UrlOption = Annotated[
    str | None, typer.Option("--url", help="The workflows API [env: WFA_URL; default: http://127.0.0.1:8080]")
]
ApiKeyOption = Annotated[
    str | None, typer.Option("--api-key", help="Sent as Authorization: Bearer [env: WFA_API_KEY]", show_default=False)
]
OutputOption = Annotated[
    Format | None,
    typer.Option("--output", "-o", help="text, or one json (yaml) document on stdout", show_default=False),
]

app = typer.Typer(
    name="wfa",
    help="The command line of the workflow automation API: apply definitions from files, trigger and follow runs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[str, typer.Option("--url", envvar="WFA_URL", help="The workflows API")] = DEFAULT_URL,
    api_key: Annotated[
        str | None, typer.Option("--api-key", envvar="WFA_API_KEY", help="Sent as Authorization: Bearer")
    ] = None,
    output: Annotated[Format, typer.Option("--output", "-o", help="text, json or yaml")] = Format.TEXT,
) -> None:
    runtime = ctx.obj if isinstance(ctx.obj, Runtime) else Runtime()
    runtime.settings = Settings(url=url, api_key=api_key or None, output=output)
    ctx.obj = runtime


def runtime_of(ctx: typer.Context) -> Runtime:
    return ctx.obj if isinstance(ctx.obj, Runtime) else Runtime()


@contextmanager
def session(
    ctx: typer.Context, url: str | None = None, api_key: str | None = None, output: Format | None = None
) -> Iterator[Session]:
    """A command's client and output; a CliError (or any other exception) raised inside becomes its line(s) on
    stderr and the exit code, never a traceback."""
    runtime = runtime_of(ctx)
    settings = runtime.settings
    settings = replace(
        settings,
        url=url if url is not None else settings.url,
        api_key=api_key if api_key is not None else settings.api_key,
        output=output if output is not None else settings.output,
    )
    out = Output(format=settings.output)
    try:
        with runtime.client_factory(settings) as http:
            yield Session(api=WorkflowsApi(http), output=out, runtime=runtime)
    except CliError as exc:
        out.failure(exc)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        out.err.print("interrupted")
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:  # a bug in wfa: still one line, as the contract asks
        out.failure(CliError(f"unexpected error (please report it): {type(exc).__name__}: {exc}"))
        raise typer.Exit(EXIT_FAILED) from None
