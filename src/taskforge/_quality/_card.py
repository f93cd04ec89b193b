"""The dataset card (README.md) of an export: a Hugging Face card a person can trust.

It says how to load the folder (``configs:`` name one data folder per config, so
``datasets.load_dataset(folder)`` works), what the task is, how the samples were made (the
run's settings), how they were filtered, and where they came from: each source's licence and
citation, read from its ``SOURCE.txt`` and ``README.md`` when the sources' folders are known.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from taskforge._records import Sample, provenance
from taskforge._task import Task


@dataclass(frozen=True)
class DataConfig:
    """One ``configs:`` entry of the card: a name, the file it loads, and what it holds."""

    name: str
    path: str  # relative to the export folder
    what: str


def read_source_card(folder: str | Path) -> dict[str, str]:
    """``{license, repo, description, citation}`` of a source folder (``SOURCE.txt`` and the BibTeX in ``README.md``)."""
    root = Path(folder)
    info: dict[str, str] = {}
    src = root / "SOURCE.txt"
    if src.is_file():
        for line in src.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, val = line.partition(":")
            if key.strip() in ("description", "repo", "license") and val.strip():
                info[key.strip()] = val.strip()
    readme = root / "README.md"
    if readme.is_file():
        bib = _first_bibtex(readme.read_text(encoding="utf-8", errors="replace"))
        if bib:
            info["citation"] = bib
    return info


def source_notes_from_dirs(folders: Mapping[str, str | Path]) -> dict[str, dict[str, str]]:
    """Licence and citation per source, from each source's folder (sources without any are left out)."""
    notes = {name: read_source_card(folder) for name, folder in folders.items() if Path(folder).is_dir()}
    return {name: info for name, info in notes.items() if info}


def source_folders(manifest_sources: Iterable[Mapping[str, Any]], store: str | Path) -> dict[str, Path]:
    """``{source: folder}`` from a datastore manifest's ``location`` entries, for the sources still on disk.

    A relative location was relative to where the store was built: tried from the current
    folder, then beside the store. Sources that are not folders (a file, a hub name) are left out.
    """
    out: dict[str, Path] = {}
    for entry in manifest_sources:
        loc = entry.get("location")
        if not entry.get("name") or not isinstance(loc, str) or not loc:
            continue
        candidates = [Path(loc)] if Path(loc).is_absolute() else [Path(loc), Path(store).parent / loc]
        folder = next((c for c in candidates if c.is_dir()), None)
        if folder is not None:
            out[str(entry["name"])] = folder
    return out


def source_notes_from_dir(sources_dir: str | Path, names: Iterable[str]) -> dict[str, dict[str, str]]:
    """:func:`source_notes_from_dirs` for a folder holding one sub-folder per source (``NAME/SOURCE.txt``)."""
    return source_notes_from_dirs({name: Path(sources_dir) / name for name in names})


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


def front_matter(task: Task, n: int, configs: Sequence[DataConfig]) -> str:
    """The card's YAML header: configs (what ``load_dataset`` reads), licence, size, task category."""
    meta: dict[str, Any] = {
        "pretty_name": task.name,
        # each source keeps its own licence (listed in the card); no single SPDX id is honest
        "license": "other",
        "license_name": "per-source",
        "size_categories": [_size_category(n)],
        "task_categories": ["text-classification" if task.labels() else "text-generation"],
        "tags": ["taskforge", "synthetic"],
    }
    if configs:
        meta["configs"] = [
            {"config_name": c.name, "data_files": [{"split": "train", "path": c.path}]} for c in configs
        ]
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def _loading(configs: Sequence[DataConfig]) -> list[str]:
    if not configs:
        return []
    lines = ["## Load it", "", "```python", "from datasets import load_dataset", ""]
    for c in configs:
        args = '"PATH_OR_REPO"' + ("" if c.name == "default" else f', "{c.name}"')
        lines.append(f'{c.name} = load_dataset({args}, split="train")  # {c.what}')
    lines += [
        "```",
        "",
        _md_table(["config", "file", "what"], [(c.name, f"`{c.path}`", c.what) for c in configs]),
    ]
    return [*lines, ""]


def _settings_section(run_settings: Mapping[str, Any] | None) -> list[str]:
    """How the samples were made: the settings that shape the data, then every setting."""
    if not run_settings:
        return []
    s = run_settings
    r, t, f, llm = (s.get(k) or {} for k in ("retrieve", "transform", "filter", "llm"))
    made = (
        f"an LLM ({llm['spec']})" if llm.get("spec") and t.get("method") != "mapper" else "the no-LLM mapper"
    )
    lines = ["## How it was made", ""]
    if s.get("datastore"):
        lines.append(f"- datastore: `{s['datastore']}`")
    if r:
        lines.append(
            f"- retrieval: `{r.get('method')}`, top {r.get('n')}"
            + (f", at most {r['per_source_cap']} per source" if r.get("per_source_cap") else "")
        )
    if t:
        extras = [f"{k} {t[k]}" for k in ("chain_of_thought", "samples_per_item", "temperature") if k in t]
        lines.append(f"- transformation: {made}" + (f" ({', '.join(extras)})" if extras else ""))
    if f:
        judge = f", LLM judge {f['judge']}" if f.get("judge") else ""
        lines.append(
            f"- filter: near-duplicates at MinHash Jaccard {f.get('near_dup_threshold')}, "
            f"few-shot similarity {f.get('fewshot_threshold')}, decontamination {f.get('ngram')}-grams "
            f"against {len(f.get('eval_files') or [])} eval file(s){judge}"
            + (f", at most {f['max_per_label']} per label" if f.get("max_per_label") else "")
        )
    body = json.dumps(dict(s), ensure_ascii=False, indent=2, default=str)
    lines += [
        "",
        "<details><summary>Every setting of the run</summary>",
        "",
        "```json",
        body,
        "```",
        "",
        "</details>",
        "",
    ]
    return lines


def _filter_section(funnel: Mapping[str, Any] | None) -> list[str]:
    if not funnel:
        return []
    out = ["## How it was filtered", ""]
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
                    (k, v.get("ngram", ""), v["n"], f"{v['rate']:.2%}", "yes" if v.get("filtered") else "no")
                    for k, v in contamination.items()
                ],
            ),
            "",
        ]
    return out


def _stats_section(stats: Mapping[str, Any] | None, n: int) -> list[str]:
    if not stats:
        return []
    rows: list[tuple[str, Any]] = [("samples", stats.get("size", n))]
    div = stats.get("diversity") or {}
    if div:
        rows.append(
            (
                f"unique share (ROUGE-L < {div['rouge_l_threshold']} with every other sample)",
                f"{div['unique_share']:.2%}",
            )
        )
        for part, p in (div.get("parts") or {}).items():
            share = f", {p['unique_share']:.2%} unique" if "unique_share" in p else ""
            rows.append((f"`{part}`: distinct texts", f"{p['distinct']:,}{share}"))
        rows += [
            ("avg unique unigrams per sample", div["avg_unique_unigrams"]),
            ("avg unique bigrams per sample", div["avg_unique_bigrams"]),
        ]
    for name, f in (stats.get("fields") or {}).items():
        rows.append((f"`{name}` tokens (mean / max)", f"{f['tokens']['mean']} / {f['tokens']['max']}"))
    out = ["## Statistics", "", _md_table(["", ""], rows), ""]
    if stats.get("labels"):
        out += ["Labels:", "", _md_table(["label", "samples"], stats["labels"].items()), ""]
    return out


def _sources_section(sources: Counter[str], notes: Mapping[str, Any]) -> list[str]:
    out = [
        "## Sources, licences and citations",
        "",
        "Every sample's `provenance` names the source dataset and row it was made from. The samples "
        "derive from these sources; each keeps its own licence, so check them before you share or "
        "train on this dataset, and cite them.",
        "",
        _md_table(
            ["source", "samples", "licence"],
            [
                (name, n, _note(notes, name).get("license", "(not recorded)"))
                for name, n in sources.most_common()
            ],
        ),
        "",
    ]
    for name, _ in sources.most_common():
        note = _note(notes, name)
        if not note:
            out += [f"**{name}**", "", "(no citation information recorded)", ""]
            continue
        out += [f"**{name}**", ""]
        out += [f"- {k}: {note[k]}" for k in ("description", "repo", "license") if note.get(k)]
        if note.get("text"):
            out.append(note["text"])
        if note.get("citation"):
            out += ["", "```bibtex", note["citation"], "```"]
        out.append("")
    return out


def _note(notes: Mapping[str, Any], name: str) -> dict[str, str]:
    note = notes.get(name)
    if isinstance(note, str):  # free text given by a caller
        return {"text": note}
    return dict(note or {})


def dataset_card(
    task: Task,
    kept: Sequence[Sample],
    *,
    funnel: Mapping[str, Any] | None = None,
    stats: Mapping[str, Any] | None = None,
    source_notes: Mapping[str, Any] | None = None,
    configs: Sequence[DataConfig] = (),
    files: Sequence[str] = (),
    run_settings: Mapping[str, Any] | None = None,
) -> str:
    """The README.md of an exported dataset (Hugging Face card layout, with ``configs:``)."""
    sources = Counter(str(provenance(s).get("source") or "(unknown)") for s in kept)
    out: list[str] = [
        front_matter(task, len(kept), configs),
        f"# {task.name}",
        "",
        f"{len(kept):,} training samples made by taskforge from existing datasets "
        "and corpora (CRAFT / ReBase-style retrieval and transformation).",
        "",
        *_loading(configs),
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
        out += ["## Files", "", *[f"- {f}" for f in files], ""]
    out += _settings_section(run_settings)
    out += _filter_section(funnel)
    out += _stats_section(stats, len(kept))
    out += _sources_section(sources, source_notes or {})
    return "\n".join(out).rstrip() + "\n"


__all__ = [
    "DataConfig",
    "dataset_card",
    "front_matter",
    "read_source_card",
    "source_folders",
    "source_notes_from_dir",
    "source_notes_from_dirs",
]
