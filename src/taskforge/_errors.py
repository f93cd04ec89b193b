"""The one error tree: every problem taskforge reports to a user is a :class:`TaskforgeError`.

Each branch carries the exit code the CLI uses for it (one handler in ``_cli`` prints
``error: <message>`` on one line, no traceback unless ``--verbose``):

======  =================  ==========================================================
code    class              when
======  =================  ==========================================================
0                          success
1       :class:`StageError`  a stage ran and failed, or produced nothing usable
2       :class:`UsageError`  bad flags, bad config file or settings, bad task spec
3       :class:`InputError`  unreadable data, missing datastore, model mismatch
130     :class:`Interrupted`  Ctrl-C: the message says what was kept and how to resume
======  =================  ==========================================================

The built-in bases (``ValueError``, ``OSError``, ...) are kept so code that caught them
before still does; new code catches the taskforge classes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class TaskforgeError(Exception):
    """Root of every error taskforge raises on purpose; ``exit_code`` is what the CLI exits with."""

    exit_code: int = 1


class StageError(TaskforgeError, RuntimeError):
    """A stage ran and failed, or produced nothing usable (exit code 1)."""

    exit_code = 1


class LockedError(StageError):
    """Another process is writing to the same datastore folder or run directory (exit code 1)."""


class UsageError(TaskforgeError, ValueError):
    """Bad flags, config file, settings or task spec: fix the command or the file (exit code 2)."""

    exit_code = 2


class InputError(TaskforgeError):
    """Data that cannot be read or used: a missing or unreadable file or datastore (exit code 3)."""

    exit_code = 3


class Interrupted(TaskforgeError):
    """Ctrl-C (exit code 130, the shell's convention); the message says what was kept and how to resume."""

    exit_code = 130


def on_interrupt(kept: str) -> Callable[[F], F]:
    """Turn Ctrl-C inside the decorated command into :class:`Interrupted` saying what was ``kept``."""

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return command(*args, **kwargs)
            except KeyboardInterrupt:
                raise Interrupted(f"interrupted; {kept}") from None

        return wrapper  # type: ignore[return-value]

    return decorate


class BadDataError(InputError, ValueError):
    """A file whose content cannot be used (invalid JSON on a line, unknown format); names file and line."""


class TaskSpecError(UsageError):
    """A task spec that cannot be used; the message names the field and what is wrong."""


class SettingsError(UsageError):
    """A config file, setting or flag that cannot be used; the message names the key and the allowed ones."""


class DatastoreNotFound(InputError, FileNotFoundError):
    """No datastore at the given path (no manifest.json)."""


class ModelMismatchError(InputError, ValueError):
    """A vector store was queried (or extended) with a model other than the one that built it."""


EXIT_OK = 0
EXIT_STAGE = StageError.exit_code
EXIT_USAGE = UsageError.exit_code
EXIT_INPUT = InputError.exit_code
EXIT_INTERRUPTED = Interrupted.exit_code

__all__ = [
    "EXIT_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_STAGE",
    "EXIT_USAGE",
    "BadDataError",
    "DatastoreNotFound",
    "InputError",
    "Interrupted",
    "LockedError",
    "ModelMismatchError",
    "SettingsError",
    "StageError",
    "TaskSpecError",
    "TaskforgeError",
    "UsageError",
    "on_interrupt",
]
