"""Export kept samples for training: JSONL, Parquet, HF ``save_to_disk``, chat SFT records, dataset card.

* ``data.jsonl``: the samples unchanged (documented sample format).
* ``data.parquet`` and ``hf/``: one flat row per sample (``input``/``output`` as text or a
  struct of named fields, their flattened text, provenance columns, full provenance as JSON).
* ``chat.jsonl``: ``{"messages": [system = instruction, user = input text, assistant = output
  text, preceded by the reasoning when there is one]}``: the conversational format trl's
  ``SFTTrainer`` takes as is.
* ``README.md``: a dataset card with the task, funnel, statistics and provenance.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from taskforge._io import atomic_write_text, write_jsonl
from taskforge._records import Sample, input_text, output_text, provenance
from taskforge._settings import EXPORT_FORMATS, ExportSettings
from taskforge._task import Task

FORMATS = EXPORT_FORMATS


def chat_record(task: Task, sample: Sample) -> dict[str, Any]:
    """One SFT conversation: instruction as system, input as user, (reasoning +) output as assistant."""
    answer = output_text(sample)
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
        "provenance": json.dumps(prov, ensure_ascii=False, sort_keys=True),
    }


def _arrow_table(samples: Sequence[Sample]) -> Any:
    import pyarrow as pa

    rows = [flat_row(s) for s in samples]
    try:
        return pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed value types inside a field: store as JSON text
        for r in rows:
            for k in ("input", "output"):
                if not isinstance(r[k], str):
                    r[k] = json.dumps(r[k], ensure_ascii=False)
        return pa.Table.from_pylist(rows)


def source_notes_from_dir(sources_dir: str | Path, names: Iterable[str]) -> dict[str, str]:
    """Citation notes per source from a sources folder (``NAME/SOURCE.txt`` and the BibTeX in ``NAME/README.md``)."""
    notes: dict[str, str] = {}
    root = Path(sources_dir)
    for name in names:
        folder = root / name
        parts: list[str] = []
        src = folder / "SOURCE.txt"
        if src.exists():
            for line in src.read_text(encoding="utf-8", errors="replace").splitlines():
                key, _, val = line.partition(":")
                if key.strip() in ("description", "repo", "license") and val.strip():
                    parts.append(f"{key.strip()}: {val.strip()}")
        readme = folder / "README.md"
        if readme.exists():
            bib = _first_bibtex(readme.read_text(encoding="utf-8", errors="replace"))
            if bib:
                parts.append("```bibtex\n" + bib + "\n```")
        if parts:
            notes[name] = "\n".join(parts)
    return notes


_BIB_START = re.compile(r"@\w+\s*\{")


def _first_bibtex(text: str) -> str | None:
    m = _BIB_START.search(text)
    if not m:
        return None
    depth = 0
    for i in range(m.end() - 1, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[m.start() : i + 1]
    return None


def _md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [
        "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in r) + " |" for r in rows
    ]
    return "\n".join(lines)


def _size_category(n: int) -> str:
    for limit, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if n < limit:
            return name
    return "n>1M"


def dataset_card(
    task: Task,
    kept: Sequence[Sample],
    *,
    funnel: Mapping[str, Any] | None = None,
    stats: Mapping[str, Any] | None = None,
    source_notes: Mapping[str, str] | None = None,
    files: Sequence[str] = (),
) -> str:
    """The README.md of an exported dataset (Hugging Face card layout)."""
    sources = Counter(str(provenance(s).get("source") or "(unknown)") for s in kept)
    out: list[str] = [
        "---",
        f"pretty_name: {json.dumps(task.name)}",
        "size_categories:",
        f"- {_size_category(len(kept))}",
        "tags:",
        "- taskforge",
        "- synthetic",
        "---",
        "",
        f"# {task.name}",
        "",
        f"{len(kept):,} training samples made by taskforge from existing datasets "
        "and corpora (CRAFT / ReBase-style retrieval and transformation).",
        "",
        "## Task",
        "",
        "> " + task.instruction.strip().replace("\n", "\n> "),
        "",
        f"Input fields: {', '.join(task.input_fields)}; output fields: {', '.join(task.output_fields)}.",
    ]
    if task.labels():
        out.append(f"Labels: {', '.join(task.labels() or [])}.")
    ex = task.examples[0]
    out += [
        "",
        f"One of the {len(task.examples)} examples the task was specified with:",
        "",
        "```json",
        json.dumps({"input": ex.input, "output": ex.output}, ensure_ascii=False, indent=2),
        "```",
        "",
    ]
    if files:
        out += ["## Files", "", *[f"- `{f}`" for f in files], ""]
    if funnel:
        out += ["## How it was filtered", ""]
        rows = [("in", funnel.get("in", ""))]
        rows += [(f"dropped: {k}", v) for k, v in (funnel.get("dropped") or {}).items()]
        rows.append(("out", funnel.get("out", "")))
        out += [_md_table(["step", "samples"], rows), ""]
        contamination = funnel.get("contamination") or {}
        if contamination:
            out += ["Overlap with evaluation sets (samples sharing an n-gram, before decontamination):", ""]
            out += [
                _md_table(
                    ["eval set", "n-gram", "samples", "rate", "removed"],
                    [
                        (
                            k,
                            v.get("ngram", ""),
                            v["n"],
                            f"{v['rate']:.2%}",
                            "yes" if v.get("filtered") else "no",
                        )
                        for k, v in contamination.items()
                    ],
                ),
                "",
            ]
    if stats:
        out += ["## Statistics", ""]
        rows = [("samples", stats.get("size", len(kept)))]
        div = stats.get("diversity") or {}
        if div:
            rows += [
                (
                    f"unique share (ROUGE-L < {div['rouge_l_threshold']} with every other sample)",
                    f"{div['unique_share']:.2%}",
                ),
                ("avg unique unigrams per sample", div["avg_unique_unigrams"]),
                ("avg unique bigrams per sample", div["avg_unique_bigrams"]),
            ]
        for name, f in (stats.get("fields") or {}).items():
            rows.append((f"`{name}` tokens (mean / max)", f"{f['tokens']['mean']} / {f['tokens']['max']}"))
        out += [_md_table(["", ""], rows), ""]
        if stats.get("labels"):
            out += ["Labels:", "", _md_table(["label", "samples"], stats["labels"].items()), ""]
    out += [
        "## Provenance",
        "",
        "Every sample's `provenance` names the source dataset and row it was made from.",
        "",
        _md_table(["source", "samples"], sources.most_common()),
        "",
        "### Citing the sources",
        "",
        "This dataset is derived from the sources above; cite them and respect their licenses.",
        "",
    ]
    notes = source_notes or {}
    for name, _ in sources.most_common():
        out += [f"**{name}**", "", notes.get(name, "(no citation information recorded)"), ""]
    return "\n".join(out).rstrip() + "\n"


def export_dataset(
    task: Task,
    kept: Iterable[Sample],
    out_dir: str | Path,
    *,
    funnel: Mapping[str, Any] | None = None,
    stats: Mapping[str, Any] | None = None,
    source_notes: Mapping[str, str] | None = None,
    settings: ExportSettings | None = None,
    **overrides: Any,
) -> dict[str, Path]:
    """Write the chosen formats and the dataset card to ``out_dir``; returns ``{format: path}``.

    ``settings`` (or keyword ``overrides`` such as ``formats=["jsonl"]``) choose the formats and
    where the sources' citations are. Keys: ``jsonl`` (data.jsonl), ``parquet`` (data.parquet),
    ``hf`` (hf/), ``chat`` (chat.jsonl), ``card`` (README.md, always written).
    """
    settings = ExportSettings.build(settings, overrides)
    formats = settings.formats
    samples = list(kept)
    if source_notes is None and settings.sources_dir is not None:
        names = sorted({str(provenance(s).get("source")) for s in samples})
        source_notes = source_notes_from_dir(settings.sources_dir, names)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    if "jsonl" in formats:
        paths["jsonl"] = out / "data.jsonl"
        write_jsonl(paths["jsonl"], samples)
    if "chat" in formats:
        paths["chat"] = out / "chat.jsonl"
        write_jsonl(paths["chat"], (chat_record(task, s) for s in samples))
    table = _arrow_table(samples) if {"parquet", "hf"} & set(formats) else None
    if "parquet" in formats:
        import pyarrow.parquet as pq

        paths["parquet"] = out / "data.parquet"
        tmp = out / ".data.parquet.tmp"
        pq.write_table(table, tmp)
        tmp.replace(paths["parquet"])
    if "hf" in formats:
        import datasets

        paths["hf"] = out / "hf"
        tmp_dir = out / ".hf.tmp"
        shutil.rmtree(tmp_dir, ignore_errors=True)
        from datasets.utils import logging as ds_logging

        was_enabled = ds_logging.is_progress_bar_enabled()
        ds_logging.disable_progress_bar()  # the stage prints its own summary
        try:
            datasets.Dataset(table).save_to_disk(str(tmp_dir))
        finally:
            if was_enabled:
                ds_logging.enable_progress_bar()
        shutil.rmtree(paths["hf"], ignore_errors=True)
        tmp_dir.replace(paths["hf"])
    names = {
        "jsonl": "data.jsonl",
        "parquet": "data.parquet",
        "hf": "hf/ (datasets.load_from_disk)",
        "chat": "chat.jsonl",
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
            files=[names[f] for f in FORMATS if f in formats],
        ),
    )
    return paths


__all__ = ["FORMATS", "chat_record", "dataset_card", "export_dataset", "source_notes_from_dir"]
