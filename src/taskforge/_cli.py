"""The ``taskforge`` command: a thin layer over the Python API.

Each stage's package owns its commands in a ``_commands.py`` with ``register(app)``;
this module assembles them and holds the one error handler: a :class:`TaskforgeError`
prints ``error: <message>`` on one line and exits with its code (1 stage failure,
2 usage error, 3 input error; see ``taskforge._errors``); an ``OSError`` (a file that cannot
be read or written) exits 3. ``--verbose`` adds the traceback.
"""

from __future__ import annotations

import logging
import os
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import click
import typer
from typer.core import TyperGroup

from taskforge import __version__
from taskforge._errors import EXIT_INPUT, TaskforgeError

_VERBOSE = {"on": False}


class _Taskforge(TyperGroup):
    """The root command group: every subcommand runs inside the one error handler."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TaskforgeError as e:
            _fail(e, e.exit_code)
        except OSError as e:
            _fail(e, EXIT_INPUT)


def _fail(error: BaseException, code: int) -> None:
    from rich.markup import escape

    from taskforge._console import console

    if _VERBOSE["on"]:
        console.print_exception(show_locals=False)
    console.print(f"[bold red]error:[/] {escape(one_line(error))}", soft_wrap=True)
    raise typer.Exit(code)


def one_line(error: BaseException) -> str:
    """The error's message on one line (a multi-line message's items joined with "; ")."""
    lines = [line.strip().removeprefix("- ") for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    return lines[0] + (": " + "; ".join(lines[1:]) if len(lines) > 1 else "")


app = typer.Typer(
    name="taskforge",
    cls=_Taskforge,
    help="Turn the corpora and datasets you already have into training data for a new task.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"taskforge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug details; show tracebacks."),
) -> None:
    _VERBOSE["on"] = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


def _register_all() -> None:
    from taskforge import _pipeline_commands as pipeline_cmds
    from taskforge._datastore import _commands as datastore_cmds
    from taskforge._experts import _commands as expert_cmds
    from taskforge._quality import _commands as quality_cmds
    from taskforge._report import _commands as report_cmds
    from taskforge._retrieval import _commands as retrieval_cmds
    from taskforge._transform import _commands as transform_cmds

    modules = (
        datastore_cmds,
        retrieval_cmds,
        transform_cmds,
        quality_cmds,
        pipeline_cmds,
        expert_cmds,
        report_cmds,
    )
    for module in modules:
        if module is retrieval_cmds:  # the transform stage's mapper resolves labels for retrieval
            from taskforge._pipeline import label_resolver

            retrieval_cmds.register(app, label_resolver=label_resolver)
        else:
            module.register(app)


_register_all()


def main() -> None:
    app()
