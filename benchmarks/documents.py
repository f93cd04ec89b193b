"""Documents (CRAFT): a real document corpus, its build rate, and retrieval quality for three tasks.

1. Makes the document corpus of ``scripts/make_document_corpus.py`` from the shared sources and
   prints its size: documents, passages (200 words, 50 overlapping, one vector each), words, tokens
   (counted from the texts: embedding all of it takes ~45 CPU-minutes on this machine). Then builds
   a store of a fixed subset, the first ``--per-source`` documents of each source (or reads a built
   store: ``--store``), and prints the same numbers for it.
2. Build rate: passages per second of ``build_datastore`` against raw ``SentenceTransformer.encode``
   of an even sample of the same passages, measured in the same run (a ratio; the machine is noisy).
3. For the three CRAFT tasks in ``examples/craft`` (multiple-choice QA, TLDR, recipes; 9 few-shots
   with documents each), the share of the top ``--n`` retrieved documents a careful person would call
   relevant, CRAFT's mix (per-few-shot tops + mean similarity) against mean similarity only.

Relevance criterion (by the document's source; every document of a source is the same kind of text,
see the script's table): a document is relevant when a person writing samples for the task would
want it as raw material, i.e. it is the kind of text the task's few-shots were written from:

- multiple-choice QA: encyclopedic text about a general-knowledge topic (Wikipedia-like passages,
  biographies, science textbook paragraphs, film plot summaries). Not news, reviews, recipes,
  blog posts, paper abstracts or question titles: questions from those are about one event, one
  opinion, one dish or one paper, not general knowledge.
- TLDR: a self-contained scientific or technical text a one-sentence TLDR could be written for
  (paper abstracts, science textbook paragraphs). The few-shots' own abstracts are never
  retrieved (they are banned as example texts); other SciTLDR abstracts are fair material.
- recipes: a text about preparing a dish (the recipe pages). Restaurant reviews mention food
  but hold no recipe.

    python benchmarks/documents.py [--shared DIR] [--per-source 30] [--n 30]
    python benchmarks/documents.py --store /work/scratch/craft/docs-store --n 300   # the full corpus
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TASKFORGE_QUIET", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

from taskforge import Datastore, Task, build_datastore, retrieve
from taskforge._cells import split_passages
from taskforge._embed import Embedder, _threads, compute_threads

REPO = Path(__file__).resolve().parents[1]
TASKS = REPO / "examples" / "craft"

RELEVANT: dict[str, set[str]] = {
    "mcqa": {"boolq", "t0_adversarial_qa", "t0_quoref", "t0_wiki_hop", "t0_wiki_bio", "t0_sciq", "t0_ropes", "t0_duorc"},
    "tldr": {"scitldr", "t0_sciq", "t0_ropes"},
    "recipes": {"recipes_recipe_scrapers"},
}  # fmt: skip


def _corpus_module():
    spec = importlib.util.spec_from_file_location(
        "make_document_corpus", REPO / "scripts" / "make_document_corpus.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]  # dataclasses look their module up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def default_shared() -> Path:
    for base in (REPO.parent, REPO.parent.parent):
        if (base / "shared" / "datastore-sources").is_dir():
            return base / "shared" / "datastore-sources"
    return REPO.parent / "shared" / "datastore-sources"


def corpus_size(texts: list[str], emb: Embedder) -> dict[str, int]:
    """Documents, passages, words and tokens (the embedder's word pieces, untruncated)."""
    tok = emb.model.tokenizer  # type: ignore[attr-defined]
    tokens = 0
    for start in range(0, len(texts), 512):
        batch = tok(texts[start : start + 512], add_special_tokens=False, truncation=False)["input_ids"]
        tokens += sum(len(ids) for ids in batch)
    return {
        "documents": len(texts),
        "passages": sum(len(split_passages(t)) for t in texts),
        "words": sum(len(t.split()) for t in texts),
        "tokens": tokens,
    }


def corpus_texts(corpus: Path) -> list[str]:
    return [json.loads(line)["text"] for f in sorted(corpus.glob("*/docs.jsonl")) for line in f.open()]


def fixed_subset(corpus: Path, out: Path, per_source: int) -> None:
    """The first ``per_source`` documents of each source (the card and licence kept)."""
    for folder in sorted(p for p in corpus.iterdir() if p.is_dir()):
        (out / folder.name).mkdir(parents=True, exist_ok=True)
        for extra in ("README.md", "SOURCE.txt"):
            if (folder / extra).exists():
                shutil.copy(folder / extra, out / folder.name / extra)
        with (folder / "docs.jsonl").open() as f:
            lines = [line for _, line in zip(range(per_source), f, strict=False)]
        (out / folder.name / "docs.jsonl").write_text("".join(lines), encoding="utf-8")


def print_size(label: str, size: dict[str, int], emb: Embedder) -> None:
    print(f"{label}: {size['documents']:,} documents, {size['passages']:,} passages, "
          f"{size['words']:,} words, {size['tokens']:,} tokens ({emb.name} word pieces)")  # fmt: skip


def build_rate(corpus: Path, store: Path, emb: Embedder, sample: int) -> tuple[float, float, int, float]:
    """(build passages/s, raw encode passages/s, passages, build seconds)."""
    t0 = time.perf_counter()
    build_datastore(
        sorted(p for p in corpus.iterdir() if p.is_dir()), store, kind="documents", text_column="text"
    )
    seconds = time.perf_counter() - t0
    ds = Datastore.open(store)
    passages = [p for r in ds.get_rows(np.arange(ds.n_rows)) for p in split_passages(r["text"])]
    assert len(passages) == ds.n_vectors
    step = max(1, len(passages) // sample)
    probe = passages[::step][:sample]
    with _threads(compute_threads()):
        t1 = time.perf_counter()
        emb.model.encode(probe, batch_size=64, normalize_embeddings=True)  # type: ignore[attr-defined]
        raw = len(probe) / (time.perf_counter() - t1)
    return ds.n_vectors / seconds, raw, ds.n_vectors, seconds


def retrieval_table(ds: Datastore, n: int) -> list[tuple[str, dict[str, float], float]]:
    names = [s.name for s in ds.sources]
    pool = dict.fromkeys(RELEVANT, 0)
    for s in ds.sources:
        for task, rel in RELEVANT.items():
            pool[task] += s.n_rows if s.name in rel else 0
    rows = []
    for task_name, relevant in RELEVANT.items():
        task = Task.load(TASKS / f"{task_name}.yaml")
        shares: dict[str, float] = {}
        for method in ("craft", "mean"):
            res = retrieve(task, ds, n=n, method=method, show=False)
            good = sum(it["source"] in relevant for it in res.items)
            shares[method] = good / max(1, len(res.items))
            if method == "craft":
                by_example = sum(str(it.get("picked_by", "")).startswith("example") for it in res.items)
                shares["craft_by_example"] = by_example / max(1, len(res.items))
                shares["craft_sources"] = len(res.per_source)
            else:
                shares["mean_sources"] = len(res.per_source)
        missing = relevant - set(names)
        if missing:
            print(f"note: {task_name}: relevant sources not in this store: {sorted(missing)}")
        rows.append((task_name, shares, min(1.0, pool[task_name] / n)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=default_shared())
    ap.add_argument("--per-source", type=int, default=30, help="documents per source in the subset")
    ap.add_argument("--n", type=int, default=30, help="documents retrieved per task")
    ap.add_argument("--store", type=Path, default=None, help="a built documents store (skips the build)")
    ap.add_argument("--sample", type=int, default=300, help="passages encoded for the raw baseline")
    ap.add_argument("--work", type=Path, default=None, help="keep the corpus and store here")
    args = ap.parse_args()

    emb = Embedder.load()
    tmp = args.work or Path(tempfile.mkdtemp(prefix="tf_docs_"))
    if args.store is None:
        if not args.shared.is_dir():
            raise SystemExit(f"{args.shared}: no shared sources (give --shared DIR or --store DIR)")
        full, corpus, store = tmp / "corpus_full", tmp / "corpus", tmp / "store"
        for old in (full, corpus, store):
            if old.exists():
                shutil.rmtree(old)
        t0 = time.perf_counter()
        summary = _corpus_module().build_corpus(args.shared, full)
        print(f"corpus made in {time.perf_counter() - t0:.0f} s from {sum(not s.get('missing') for s in summary)} "
              "sources: " + ", ".join(f"{s['source']} {s['docs']}" for s in summary if s.get("docs")))  # fmt: skip
        print_size("full corpus", corpus_size(corpus_texts(full), emb), emb)
        fixed_subset(full, corpus, args.per_source)
        emb.model.encode(["warm up"] * 8)  # type: ignore[attr-defined]
        rate, raw, n_passages, seconds = build_rate(corpus, store, emb, args.sample)
        print(f"build of the subset (first {args.per_source} per source): {n_passages:,} passages in "
              f"{seconds:.1f} s = {rate:.1f} passages/s; raw encode of {min(args.sample, n_passages)} of "
              f"them {raw:.1f}/s; ratio build / raw {rate / raw:.2f}")  # fmt: skip
    else:
        store = args.store
    ds = Datastore.open(store)
    texts = [r["text"] for r in ds.get_rows(np.arange(ds.n_rows))]
    print_size(f"store {store} ({len(ds.sources)} sources)", corpus_size(texts, emb), emb)

    t0 = time.perf_counter()
    rows = retrieval_table(ds, args.n)
    print(f"\nrelevant share of the top {args.n} documents (criterion in this script's docstring; "
          f"{time.perf_counter() - t0:.1f} s for 6 retrievals)")  # fmt: skip
    print(f"{'task':10} {'craft mix':>10} {'mean only':>10} {'craft/mean':>11}  {'ceiling':>8}  "
          f"{'by few-shot':>11}  {'sources c/m':>11}")  # fmt: skip
    for task, s, ceiling in rows:
        ratio = s["craft"] / s["mean"] if s["mean"] else float("inf")
        print(f"{task:10} {s['craft']:10.2f} {s['mean']:10.2f} {ratio:11.2f}  {ceiling:8.2f}  "
              f"{s['craft_by_example']:11.2f}  {s['craft_sources']:>5} / {s['mean_sources']:<5}")  # fmt: skip
    mc = sum(s["craft"] for _, s, _ in rows) / len(rows)
    mm = sum(s["mean"] for _, s, _ in rows) / len(rows)
    print(f"{'mean':10} {mc:10.2f} {mm:10.2f} {mc / mm if mm else float('inf'):11.2f}")
    print("ceiling: relevant documents in the store / n; by few-shot: share the per-few-shot lists took")
    if args.work is None and args.store is None:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
