"""The ``taskforge`` command: a thin layer over the Python API.

Each stage's package owns its commands in a ``_commands.py`` with ``register(app)``;
this module only assembles them.
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import typer

from taskforge import __version__

app = typer.Typer(
    name="taskforge",
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
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug details."),
) -> None:
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
