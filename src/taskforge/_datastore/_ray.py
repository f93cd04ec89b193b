"""The Ray executor of a datastore build: one Ray task per source, the merge on the driver.

A source's chunks are written by the same code as the local executor (``_build_source``) into
``<store>/chunks/<source key>/``, so the folder must be on a filesystem every worker sees (one
machine, NFS, a mounted bucket). Each worker loads the store's embedder itself (model, backend,
precision) and runs with the driver's ``TASKFORGE_*`` environment, so it embeds the same
batches the same way: the vectors and the manifest equal the local executor's. A source that
fails stops nothing else: finished sources are merged and the first failure is raised, as
locally. ``address``: ``None`` starts (or joins) a local Ray instance; ``"auto"`` or
``"ray://host:10001"`` joins a running cluster.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from taskforge._console import console, make_progress
from taskforge._datastore._sources import Source, SourceError
from taskforge._embed import Embedder
from taskforge._errors import SettingsError


def ray_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def init_ray(address: str | None = None, workers: int | None = None) -> Any:
    """The ``ray`` module, connected: joins ``address`` (``auto``, ``ray://host:10001``) or starts
    a local instance of ``workers`` CPUs, passing the driver's ``TASKFORGE_*``, ``HF_*`` and
    ``TOKENIZERS_*`` variables to the workers. A clear error where Ray is not installed."""
    if not ray_available():
        raise SettingsError("--executor ray needs Ray: pip install 'taskforge[ray]'")
    import ray

    if not ray.is_initialized():
        env = {k: v for k, v in os.environ.items() if k.startswith(("TASKFORGE_", "HF_", "TOKENIZERS_"))}
        ray.init(
            address=address,
            num_cpus=workers if address is None else None,
            runtime_env={"env_vars": env},
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    return ray


def _build_one(
    build_source: Callable[..., dict[str, Any]],
    src: Source,
    out: str,
    model: str,
    precision: str,
    backend: str,
    settings: dict[str, Any],
    strict: bool,
    batch_size: int,
) -> dict[str, Any]:
    """One source, inside a Ray worker: the local executor's ``build_source`` on the worker's own
    embedder (passed in, by reference, so this module does not import the build loop)."""
    os.environ["TASKFORGE_QUIET"] = "1"
    # a task holds one CPU: one compute thread, or a node's tasks would oversubscribe it
    os.environ.setdefault("TASKFORGE_EMBED_THREADS", "1")
    embedder = Embedder.load(model, precision=precision, backend=backend)
    with make_progress() as progress:
        return build_source(src, Path(out), embedder, settings, strict, batch_size, progress)


def build_sources_ray(
    sources: list[Source],
    out: Path,
    embedder: Embedder,
    settings: dict[str, Any],
    build_source: Callable[..., dict[str, Any]],
    *,
    strict: bool,
    batch_size: int,
    address: str | None = None,
    workers: int | None = None,
) -> tuple[list[dict[str, Any]], Exception | None]:
    """Build every source as a Ray task; (entries of the finished sources in input order, first failure)."""
    ray = init_ray(address, workers)
    remote = ray.remote(num_cpus=1)(_build_one)
    refs = [
        remote.remote(
            build_source,
            src,
            str(out),
            embedder.name,
            embedder.precision,
            getattr(embedder, "backend", "torch"),
            settings,
            strict,
            batch_size,
        )
        for src in sources
    ]
    by_ref = dict(zip(refs, sources, strict=True))
    results: dict[Any, dict[str, Any]] = {}
    failure: Exception | None = None
    with make_progress() as progress:
        task = progress.add_task(
            f"sources on Ray ({ray.cluster_resources().get('CPU', 0):.0f} CPUs)", total=len(refs)
        )
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            try:
                results[ready[0]] = ray.get(ready[0])
            except ray.exceptions.RayTaskError as e:
                name = by_ref[ready[0]].name
                cause = getattr(e, "cause", None)
                if not isinstance(cause, SourceError):
                    cause = SourceError(f"source {name!r}: {cause or e}")
                failure = failure or cause
                console.print(f"[red]source {name!r} failed on Ray:[/] {cause}")
            progress.advance(task)
    return [results[r] for r in refs if r in results], failure


__all__ = ["build_sources_ray", "init_ray", "ray_available"]
