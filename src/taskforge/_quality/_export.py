"""Export kept samples for training, laid out as a Hugging Face dataset repository.

* ``data/train.parquet`` (config ``default``) and ``hf/`` (``save_to_disk``): one flat row per
  sample: ``input``/``output`` as text or a struct of named fields, their flattened text,
  provenance columns and the full ``provenance`` as a struct.
* ``chat.jsonl`` and ``chat/train.parquet`` (config ``chat``): ``{"messages": [system =
  instruction, user = input text, assistant = the output (its value for a one-field output),
  preceded by the reasoning]}``: the conversational format trl's ``SFTTrainer`` (and OpenAI's
  fine-tuning API, for the JSONL) take as is. Every config is Parquet: ``datasets`` picks one
  loader for all configs of a folder (huggingface/datasets#6447).
* ``data.jsonl``: the samples unchanged (documented sample format; what ``taskforge train`` reads).
* ``README.md``: the dataset card (``taskforge._quality._card``); its ``configs:`` make
  ``datasets.load_dataset(folder)`` load the folder, and ``export --push-to-hub`` publish it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from taskforge._io import atomic_write_text, write_jsonl
from taskforge._quality._card import DataConfig, dataset_card, source_notes_from_dirs
from taskforge._records import Sample, input_text, output_text, provenance, text_of
from taskforge._settings import EXPORT_FORMATS, ExportSettings
from taskforge._task import Task

FORMATS = EXPORT_FORMATS
PARQUET = "data/train.parquet"
CHAT = "chat.jsonl"
CHAT_PARQUET = "chat/train.parquet"


def chat_record(task: Task, sample: Sample) -> dict[str, Any]:
    """One SFT conversation: instruction as system, input as user, (reasoning +) output as assistant.

    A one-field output (``{"label": "entailment"}``) is answered with its value ("entailment"),
    which is what the expert should say; several fields keep their names (``name: value`` lines).
    """
    answer = answer_text(sample.get("output"))
    reasoning = sample.get("reasoning")
    if isinstance(reasoning, str) and reasoning.strip():
        answer = f"{reasoning.strip()}\n\n{answer}"
    return {
        "messages": [
            {"role": "system", "content": task.instruction.strip()},
            {"role": "user", "content": input_text(sample)},
            {"role": "assistant", "content": answer},
        ]
    }


def answer_text(output: Any) -> str:
    """The assistant's answer for an output: a one-field output's value, else the flattened output."""
    if isinstance(output, dict) and len(output) == 1:
        return text_of(next(iter(output.values())))
    return text_of(output)


def _struct(value: Any) -> Any:
    """A provenance value Arrow can store as a struct: empty mappings (a struct with no field) left out."""
    if isinstance(value, dict):
        return {k: _struct(v) for k, v in value.items() if not (isinstance(v, dict) and not v)}
    return value


def flat_row(sample: Sample) -> dict[str, Any]:
    prov = provenance(sample)
    return {
        "id": sample.get("id"),
        "input": sample.get("input"),
        "output": sample.get("output"),
        "reasoning": sample.get("reasoning"),
        "input_text": input_text(sample),
        "output_text": output_text(sample),
        "source": prov.get("source"),
        "row_id": prov.get("row_id"),
        "method": prov.get("method"),
        "model": prov.get("model"),
        "provenance": _struct(prov),
    }


def _arrow_table(samples: Sequence[Sample]) -> Any:
    import pyarrow as pa

    rows = [flat_row(s) for s in samples]
    # a field whose values differ in type from sample to sample (text here, fields there) cannot be
    # one Arrow column: store that field as JSON text, the rest keep their types
    for fields in ((), ("input", "output"), ("input", "output", "provenance")):
        for r in rows:
            for k in fields:
                if not isinstance(r[k], str):
                    r[k] = json.dumps(r[k], ensure_ascii=False, sort_keys=True)
        try:
            return pa.Table.from_pylist(rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            continue
    raise AssertionError("unreachable: every field is text by now")


def export_dataset(
    task: Task,
    kept: Iterable[Sample],
    out_dir: str | Path,
    *,
    funnel: Mapping[str, Any] | None = None,
    stats: Mapping[str, Any] | None = None,
    source_notes: Mapping[str, Any] | None = None,
    source_dirs: Mapping[str, str | Path] | None = None,
    run_settings: Mapping[str, Any] | None = None,
    settings: ExportSettings | None = None,
    **overrides: Any,
) -> dict[str, Path]:
    """Write the chosen formats and the dataset card to ``out_dir``; returns ``{format: path}``.

    ``settings`` (or keyword ``overrides`` such as ``formats=["jsonl"]``) choose the formats and
    where the sources' folders are. Keys: ``jsonl`` (data.jsonl), ``parquet`` (data/train.parquet),
    ``hf`` (hf/), ``chat`` (chat/train.jsonl), ``card`` (README.md, always written). The card
    reads each source's licence and citation from ``source_dirs`` (``{source: folder}``, e.g.
    from the datastore's manifest) or ``settings.sources_dir/NAME``, and shows ``run_settings``.
    """
    settings = ExportSettings.build(settings, overrides)
    formats = settings.formats
    samples = list(kept)
    if source_notes is None:
        names = sorted({str(provenance(s).get("source")) for s in samples})
        folders = {n: Path(d) for n, d in (source_dirs or {}).items() if n in names}
        if settings.sources_dir is not None:
            folders.update({n: Path(settings.sources_dir) / n for n in names})
        source_notes = source_notes_from_dirs(folders)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    configs: list[DataConfig] = []
    if "jsonl" in formats:
        paths["jsonl"] = out / "data.jsonl"
        write_jsonl(paths["jsonl"], samples)
    table = _arrow_table(samples) if {"parquet", "hf"} & set(formats) else None
    if "parquet" in formats:
        paths["parquet"] = _write_parquet(table, out / PARQUET)
        configs.append(DataConfig("default", PARQUET, "the samples: input, output, provenance (a struct)"))
    if "chat" in formats:
        import pyarrow as pa

        chats = [chat_record(task, s) for s in samples]
        paths["chat"] = out / CHAT
        write_jsonl(paths["chat"], chats)
        paths["chat_parquet"] = _write_parquet(pa.Table.from_pylist(chats), out / CHAT_PARQUET)
        name = "chat" if configs else "default"
        configs.append(DataConfig(name, CHAT_PARQUET, "chat messages for SFT (system, user, assistant)"))
    if "hf" in formats:
        paths["hf"] = out / "hf"
        _save_to_disk(table, paths["hf"])
    files = {
        "jsonl": "`data.jsonl`: the samples as taskforge writes them (`taskforge train` reads them)",
        "parquet": f"`{PARQUET}`: one flat row per sample (config `default`)",
        "chat": f"`{CHAT}` and `{CHAT_PARQUET}`: chat messages for SFT (the JSONL for trl or OpenAI fine-tuning)",
        "hf": "`hf/`: the same rows for `datasets.load_from_disk`",
    }
    paths["card"] = out / "README.md"
    atomic_write_text(
        paths["card"],
        dataset_card(
            task,
            samples,
            funnel=funnel,
            stats=stats,
            source_notes=source_notes,
            configs=configs,
            files=[files[f] for f in FORMATS if f in formats],
            run_settings=run_settings,
        ),
    )
    return paths


def _write_parquet(table: Any, path: Path) -> Path:
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)
    return path


def _save_to_disk(table: Any, path: Path) -> None:
    """``datasets.Dataset.save_to_disk`` into ``path``, atomically (a temp folder, then a rename)."""
    import datasets
    from datasets.utils import logging as ds_logging

    tmp_dir = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    was_enabled = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()  # the stage prints its own summary
    try:
        datasets.Dataset(table).save_to_disk(str(tmp_dir))
    finally:
        if was_enabled:
            ds_logging.enable_progress_bar()
    shutil.rmtree(path, ignore_errors=True)
    tmp_dir.replace(path)


__all__ = [
    "CHAT",
    "CHAT_PARQUET",
    "FORMATS",
    "PARQUET",
    "answer_text",
    "chat_record",
    "export_dataset",
    "flat_row",
]
