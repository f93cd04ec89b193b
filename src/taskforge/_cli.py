"""The ``taskforge`` command: a thin layer over the Python API.

Each stage's package owns its commands in a ``_commands.py`` with ``register(app)``;
this module assembles them and holds the one error handler: a :class:`TaskforgeError`
prints ``error: <message>`` on one line and exits with its code (1 stage failure,
2 usage error, 3 input error, 130 Ctrl-C; see ``taskforge._errors``); an ``OSError`` (a file
that cannot be read or written) exits 3. ``--verbose`` adds the traceback.

Start-up is part of the interface: this module and every ``_commands.py`` import only typer
and the standard library at the top; a command imports its stage when it runs, so
``taskforge --help`` never loads torch, faiss or datasets (tests/test_startup.py).
"""

from __future__ import annotations

import logging
import os
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import typer
from typer.core import TyperArgument, TyperGroup

from taskforge import __version__
from taskforge._errors import EXIT_INPUT, Interrupted, TaskforgeError

_VERBOSE = {"on": False}

# What an interrupted command leaves behind, for the commands that do not say it themselves
# (`run`, `transform`, `train` and `datastore build` raise Interrupted with their own account).
_KEPT_ON_INTERRUPT = (
    "nothing half-written was left (outputs are written whole, atomically); run the command again to redo it"
)


class _Taskforge(TyperGroup):
    """The root command group: every subcommand runs inside the one error handler."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        plain_placeholders(self)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except TaskforgeError as e:
            _fail(e, e.exit_code)
        except BrokenPipeError:  # `taskforge ... | head`: the reader left; stop quietly, like other tools
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # no second error when Python flushes stdout
            raise typer.Exit(141) from None
        except OSError as e:
            _fail(e, EXIT_INPUT)
        except KeyboardInterrupt:
            command = ctx.invoked_subcommand or "taskforge"
            _fail(Interrupted(f"interrupted ({command}): {_KEPT_ON_INTERRUPT}"), Interrupted.exit_code)


def _fail(error: BaseException, code: int) -> None:
    from rich.markup import escape

    from taskforge._console import console

    if _VERBOSE["on"]:
        console.print_exception(show_locals=False)
    console.print(f"[bold red]error:[/] {escape(one_line(error))}", soft_wrap=True)
    raise typer.Exit(code)


# ---- help: plain placeholders -------------------------------------------------------------------
# typer prints value types as `<bool>`, `<list[Path]>`, `<int range> [x>=1]`; a user wants FILE, N.
_PLACEHOLDERS = {
    "int": "N",
    "int range": "N",
    "float": "NUMBER",
    "float range": "NUMBER",
    "str": "TEXT",
    "path": "PATH",
    "file": "FILE",
    "dir": "DIR",
}
_NAMED = {  # options whose values have a shape worth showing
    "llm": "PROVIDER:MODEL",
    "judge": "PROVIDER:MODEL",
    "base_url": "URL",
    "judge_base_url": "URL",
    "api_key_env": "ENV_VAR",
    "label_map": "RAW=LABEL",
}


def plain_placeholders(command: Any) -> None:
    """Give every parameter of ``command`` (and of its subcommands) a plain placeholder.

    Options get a ``metavar`` (typer's documented way to name a value): ``N``, ``FILE``, ``DIR``,
    ``TEXT``, ``PROVIDER:MODEL``; a bounded range shows as ``0-1``; flags show nothing. Arguments
    are named in capitals (``TASK_FILE``) without a type beside the name. Metavars set by a
    command are kept. Square brackets in help texts are shown as written, not read as markup.
    """
    params = list(getattr(command, "params", []))
    if hasattr(command, "get_help_option") and hasattr(command, "context_class"):
        params.append(command.get_help_option(command.context_class(command)))  # made once, cached
    if getattr(command, "help", None):
        command.help = _literal_brackets(command.help)
    for param in params:
        if param is None:
            continue
        if getattr(param, "help", None):
            param.help = _literal_brackets(param.help)
        if isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = param.name.upper()
            param.display_type_rich = lambda ctx: None  # the name says it; no `<path>` beside it
        elif param.metavar is None:
            param.metavar = _placeholder(param)
        if hasattr(param, "min"):  # the range is in the placeholder (or obvious: a count)
            param.min = param.max = None
    for sub in getattr(command, "commands", {}).values():
        plain_placeholders(sub)


def _literal_brackets(text: str) -> str:
    """Help text is rich markup: ``[all of them]`` would vanish as an unknown tag; show it as written."""
    from re import sub

    return sub(r"(?<!\\)\[", r"\\[", text)


def _placeholder(param: Any) -> str:
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    if param.name in _NAMED:
        return _NAMED[param.name]
    lo, hi = getattr(param, "min", None), getattr(param, "max", None)
    if lo is not None and hi is not None:
        return f"{lo:g}-{hi:g}"
    info = getattr(getattr(param, "type_descriptor", None), "parameter_info", None)
    if "Path" in str(getattr(param.type_descriptor, "annotation", "")) and info is not None:
        return "FILE" if not info.dir_okay else "DIR" if not info.file_okay else "PATH"
    try:
        label = param.display_type(None).strip("<>")
    except Exception:  # a typer without display_type: keep its own rendering
        return ""
    if label.startswith("list[") and label.endswith("]"):  # a repeatable option: one value each time
        label = label[5:-1].lower()
    if "|" in label:  # choices: as they are
        return label
    return _PLACEHOLDERS.get(label, label.upper())


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
            retrieval_cmds.register(app, label_resolver=_label_resolver)
        else:
            module.register(app)


def _label_resolver(*args: Any, **kwargs: Any) -> Any:
    """The pipeline's label resolver, imported when `retrieve` runs (not on every start-up)."""
    from taskforge._pipeline import label_resolver

    return label_resolver(*args, **kwargs)


_register_all()


def main() -> None:
    app()
