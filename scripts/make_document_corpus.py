"""Recipe: a document corpus (CRAFT's kind of datastore) from the long free text in the shared sources.

CRAFT retrieves from web corpora of documents (C4, Wikipedia, StackExchange, WikiHow) cleaned to
200-25,000 characters. The shared sources are datasets, but many carry such documents in a column
or inside a prompt template: news articles, the texts summaries were written from, Wikipedia-like
passages, biographies, recipes, reviews, the contexts of QA datasets. This script pulls them out
(one extraction rule per source, below), keeps documents of 200-25,000 characters, drops exact
duplicates (BoolQ and the T0 sets repeat a passage for every question), and writes one folder per
source with ``docs.jsonl`` (``text``, ``title``, ``origin``), a card and the source's SOURCE.txt.

Then build the store; ``--text-column text`` makes each row's ``text`` the document, which the
build splits into passages of 200 words overlapping by 50, one vector each::

    python scripts/make_document_corpus.py --out /work/scratch/craft/corpus
    taskforge datastore build /work/scratch/craft/corpus/* --kind documents --text-column text \\
        --out /work/scratch/craft/docs-store

``--max-docs N`` keeps the first N documents per source (a fixed subset, for benchmarks).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskforge._datastore._readers import BadRow  # the datastore's own readers: every format, file:line ids
from taskforge._datastore._sources import resolve_source

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datastore-sources"
MIN_CHARS, MAX_CHARS = 200, 25_000  # CRAFT's cleaning kept documents of this length
_WS = re.compile(r"\s+")

Extract = Callable[[dict[str, Any]], tuple[str, str] | None]  # row -> (title, text) or None


def column(name: str, title: str | None = None) -> Extract:
    """The document is one column (a list of sentences is joined); ``title`` optionally another."""

    def get(row: dict[str, Any]) -> tuple[str, str] | None:
        value = row.get(name)
        if isinstance(value, list):
            value = " ".join(str(v) for v in value)
        return (str(row.get(title) or "") if title else "", str(value)) if value else None

    return get


def template(pattern: str, field: str = "prompt", title: str | None = None) -> Extract:
    """The document inside a prompt template (T0 sets): the ``doc`` group of ``pattern``."""
    rx = re.compile(pattern, re.DOTALL)
    rt = re.compile(title, re.DOTALL) if title else None

    def get(row: dict[str, Any]) -> tuple[str, str] | None:
        text = str(row.get(field) or "")
        m = rx.search(text)
        if not m:
            return None
        t = rt.search(text) if rt else None
        return (t.group(1).strip() if t else "", m.group("doc"))

    return get


def recipe(row: dict[str, Any]) -> tuple[str, str] | None:
    """A recipe page as text: description, ingredients, steps (English pages only)."""
    if not str(row.get("language", "")).startswith("en"):
        return None

    def items(v: Any) -> list[str]:
        if isinstance(v, str) and v.startswith("["):
            try:
                v = ast.literal_eval(v)
            except (ValueError, SyntaxError):
                return [v]
        return [str(x) for x in v] if isinstance(v, list) else ([str(v)] if v else [])

    parts = [str(row.get("description") or "")]
    parts.append("Ingredients: " + "; ".join(items(row.get("ingredients"))))
    parts.append(" ".join(items(row.get("instructions_list"))))
    return str(row.get("title") or ""), "\n".join(p for p in parts if p.strip())


def news_item(row: dict[str, Any]) -> tuple[str, str] | None:
    desc = str(row.get("Description") or "").replace("\\", " ")
    return str(row.get("Title") or ""), desc


@dataclass(frozen=True)
class Pick:
    source: str  # folder under datastore-sources
    kind: str  # what the documents are
    extract: Extract
    files: tuple[str, ...] = ()  # only rows of these files (prefix of the row id); () = all
    description: str = ""


PICKS: list[Pick] = [
    # news
    Pick("cnn_dailymail_sample", "news", column("article"), description="News articles from CNN and the Daily Mail."),
    Pick("t0_cnn_dailymail", "news", template(r"\n\nArticle: (?P<doc>.*)"), description="CNN and Daily Mail news articles."),
    Pick("xsum_sample", "news", column("document"), ("xsum_human_eval_50",), "BBC news articles (XSum)."),
    Pick("t0_xsum", "news", template(r"^(?P<doc>.*?)\s*This boils down to the simple idea that\s*$"), description="BBC news articles (XSum)."),
    Pick("t0_multi_news", "news", template(r"distill these articles down into one:\s*(?P<doc>.*)"), description="News articles on one story from several outlets (Multi-News)."),
    Pick("ag_news_test", "news", news_item, description="News headlines with their lead paragraphs (AG News)."),
    # the texts summaries were written from
    Pick("scitldr", "scientific abstracts", column("source"), description="Abstracts of machine-learning papers (SciTLDR)."),
    # Wikipedia-like passages and biographies
    Pick("boolq", "wikipedia passages", column("passage", title="title"), description="Wikipedia passages (BoolQ)."),
    Pick("t0_adversarial_qa", "wikipedia passages", template(r'Given the following passage\s*"(?P<doc>.*)",\s*answer the following question'), description="Wikipedia passages (AdversarialQA)."),
    Pick("t0_quoref", "wikipedia passages", template(r"using the article: (?P<doc>.*), what would be the answer \?\s*$"), description="Wikipedia articles about people, places and works (Quoref)."),
    Pick("t0_wiki_hop", "wikipedia passages", template(r"^Information:\s*(?P<doc>.*?)\n\n\n+Given the information above"), description="Sets of Wikipedia first sentences about related entities (WikiHop)."),
    Pick("t0_wiki_bio", "biographies", template(r"\nBio: (?P<doc>.*)"), description="Biographies from Wikipedia (WikiBio)."),
    # QA contexts
    Pick("t0_duorc", "plot summaries", template(r"Movie plot: (?P<doc>.*)", title=r"Movie plot title: ([^\n]*)"), description="Movie plot summaries from Wikipedia (DuoRC)."),
    Pick("t0_ropes", "science background", template(r"^I can use this background: (?P<doc>.*?)\n\nNow, I have a new situation:"), description="Science background paragraphs (ROPES)."),
    Pick("t0_sciq", "science background", template(r"given this paragraph:\s*(?P<doc>.*?)\n\n\nQ:"), description="Science textbook paragraphs (SciQ support)."),
    Pick("t0_cosmos_qa", "personal narratives", template(r"Context: (?P<doc>.*?)\n\nAnswer:"), description="Blog posts about everyday life (CosmosQA contexts)."),
    # recipes, reviews, StackOverflow
    Pick("recipes_recipe_scrapers", "recipes", recipe, description="Recipes from public recipe websites: description, ingredients and steps."),
    Pick("t0_imdb", "reviews", template(r"^(?P<doc>.*?)\s*The sentiment expressed for the movie is\s*$"), description="Movie reviews (IMDB)."),
    Pick("t0_yelp_review_full", "reviews", template(r"^(?P<doc>.*?)\n===\nBased on that, my rating is"), description="Business reviews (Yelp)."),
    Pick("t0_amazon_polarity", "reviews", template(r"Review: (?P<doc>.*?)\nAnswer:\s*$"), description="Product reviews (Amazon)."),
    Pick("stackoverflow_titles", "stackoverflow titles", column("text"), ("title_StackOverflow",), "StackOverflow question titles."),
]  # fmt: skip


def clean(text: str) -> str:
    """Whitespace runs to one space or one newline; BBC/T0 tokenised quotes left as they are."""
    lines = [_WS.sub(" ", ln).strip() for ln in text.replace("\r", "\n").split("\n")]
    return "\n".join(ln for ln in lines if ln)


def documents(pick: Pick, root: Path) -> Iterator[tuple[dict[str, Any], str]]:
    """(document record, reason) for every row of a source: reason "" when kept."""
    for row in resolve_source(str(root / pick.source)).rows():
        if isinstance(row, BadRow):
            yield {}, "malformed row"
            continue
        if pick.files and not row.row_id.startswith(pick.files):
            continue
        record = row.record if isinstance(row.record, dict) else {"text": row.record}
        got = pick.extract(record)
        if got is None:
            yield {}, "no document in the row"
            continue
        title, text = clean(got[0]), clean(got[1])
        if len(text) < MIN_CHARS:
            yield {}, f"shorter than {MIN_CHARS} characters"
        elif len(text) > MAX_CHARS:
            yield {}, f"longer than {MAX_CHARS:,} characters"
        else:
            yield {"text": text, "title": title, "origin": f"{pick.source}/{row.row_id}"}, ""


def build_corpus(root: Path, out: Path, max_docs: int | None = None) -> list[dict[str, Any]]:
    """Write ``out/<source>/docs.jsonl`` (+ README.md, SOURCE.txt) per source; returns a summary row each."""
    seen: set[str] = set()
    summary = []
    out.mkdir(parents=True, exist_ok=True)
    for pick in PICKS:
        if not (root / pick.source).is_dir():
            summary.append({"source": pick.source, "kind": pick.kind, "missing": True})
            continue
        kept: list[dict[str, Any]] = []
        dropped: dict[str, int] = {}
        for doc, reason in documents(pick, root):
            key = _WS.sub(" ", doc.get("text", "")).casefold()
            if not reason and key in seen:
                reason = "duplicate text"
            if reason:
                dropped[reason] = dropped.get(reason, 0) + 1
                continue
            seen.add(key)
            kept.append(doc)
            if max_docs and len(kept) >= max_docs:
                break
        summary.append(
            {"source": pick.source, "kind": pick.kind, "docs": len(kept), "chars": sum(len(d["text"]) for d in kept),
             "words": sum(len(d["text"].split()) for d in kept), "dropped": dropped}
        )  # fmt: skip
        folder = out / pick.source
        if folder.exists():
            shutil.rmtree(folder)
        if not kept:
            continue
        folder.mkdir()
        with (folder / "docs.jsonl").open("w", encoding="utf-8") as f:
            for doc in kept:
                f.write(json.dumps(doc, ensure_ascii=False) + "\n")
        card = f"# {pick.source} (documents)\n\n## Dataset summary\n\n{pick.description} Kind: {pick.kind}.\n"
        (folder / "README.md").write_text(card, encoding="utf-8")
        if (root / pick.source / "SOURCE.txt").exists():
            shutil.copy(root / pick.source / "SOURCE.txt", folder / "SOURCE.txt")
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=SHARED, help="the datastore-sources folder")
    ap.add_argument("--out", type=Path, required=True, help="corpus folder (one sub-folder per source)")
    ap.add_argument("--max-docs", type=int, default=None, help="first N documents per source")
    args = ap.parse_args()
    summary = build_corpus(args.shared, args.out, args.max_docs)
    print(f"{'source':26} {'kind':22} {'docs':>6} {'words':>9}  dropped")
    for s in summary:
        if s.get("missing"):
            print(f"{s['source']:26} {s['kind']:22} (not found)")
            continue
        drops = ", ".join(f"{k} {v}" for k, v in s["dropped"].items()) or "-"
        print(f"{s['source']:26} {s['kind']:22} {s['docs']:6,} {s['words']:9,}  {drops}")
    docs = sum(s.get("docs", 0) for s in summary)
    words = sum(s.get("words", 0) for s in summary)
    print(f"{'total':49} {docs:6,} {words:9,}   -> {args.out}")


if __name__ == "__main__":
    main()
