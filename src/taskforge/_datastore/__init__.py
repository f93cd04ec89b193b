"""Datastore: sources -> embedded chunks -> one memory-mapped store (ReBase rows, CRAFT documents)."""

from taskforge._datastore._build import BuildReport, StrictModeError, build_datastore
from taskforge._datastore._sources import Source, SourceError, resolve_source
from taskforge._datastore._store import Datastore, SourceInfo
from taskforge._embed import Embedder, ModelMismatchError

__all__ = [
    "BuildReport",
    "Datastore",
    "Embedder",
    "ModelMismatchError",
    "Source",
    "SourceError",
    "SourceInfo",
    "StrictModeError",
    "build_datastore",
    "resolve_source",
]
