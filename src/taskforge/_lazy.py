"""Lazy package exports (PEP 562): a package's names load from their modules on first use.

A package ``__init__`` that imports every module of its stage makes ``import`` of any one of
them (a CLI command module, ``Datastore`` for ``datastore info``) pay for all of them: numpy,
pyarrow, sklearn. With ``__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)`` a name is
imported when it is first read, and ``taskforge --help`` stays fast (tests/test_startup.py).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, whose ``exports`` map each name to its module."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__


__all__ = ["lazy_exports"]
