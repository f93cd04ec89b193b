"""Readers and sources: every format on good and malformed input, cards, cells. No embedding here."""

from __future__ import annotations

import bz2
import gzip
import json
from pathlib import Path

import pytest

from taskforge._cells import split_passages, text_cells
from taskforge._datastore._readers import BadRow, Row, UnreadableFile, read_file
from taskforge._datastore._sources import (
    SourceError,
    card_summary,
    data_files,
    folder_description,
    resolve_source,
)


def rows_of(path: Path, **kw: str) -> tuple[list[Row], list[BadRow]]:
    good, bad = [], []
    for item in read_file(path, path.name, **kw):
        (good if isinstance(item, Row) else bad).append(item)
    return good, bad


def test_jsonl_good_and_malformed(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_text('{"a": "x y"}\n\n{"a": "broken\n{"a": "z"}\n', encoding="utf-8")
    good, bad = rows_of(p)
    assert [r.record["a"] for r in good] == ["x y", "z"]
    assert [r.row_id for r in good] == ["d.jsonl:1", "d.jsonl:4"]
    assert len(bad) == 1 and "d.jsonl:3" in bad[0].message and "invalid JSON" in bad[0].message


def test_json_list_dict_and_lines(tmp_path: Path) -> None:
    lst = tmp_path / "list.json"
    lst.write_text(json.dumps([{"q": f"question {i}", "n": 1.5e3} for i in range(3000)]), encoding="utf-8")
    good, bad = rows_of(lst)
    assert len(good) == 3000 and not bad and good[-1].record["q"] == "question 2999"
    assert good[0].row_id == "list.json:0"

    keyed = tmp_path / "keyed.json"
    keyed.write_text(json.dumps({"id-1": {"q": "a"}, "id-2": {"q": "b"}}, indent=2), encoding="utf-8")
    good, _ = rows_of(keyed)
    assert [(r.row_id, r.record["q"]) for r in good] == [("keyed.json:id-1", "a"), ("keyed.json:id-2", "b")]

    single = tmp_path / "single.json"
    single.write_text(json.dumps({"title": "t", "body": "b"}, indent=2), encoding="utf-8")
    assert [r.record for r in rows_of(single)[0]] == [{"title": "t", "body": "b"}]

    lines = tmp_path / "lines.json"
    lines.write_text('{"q": "a"}\n{"q": "b"}\n', encoding="utf-8")
    assert [r.record["q"] for r in rows_of(lines)[0]] == ["a", "b"]


def test_json_malformed_names_file_and_row(tmp_path: Path) -> None:
    p = tmp_path / "bad.json"
    p.write_text('[\n{"q": "a"},\n{"q": "b",,}\n]', encoding="utf-8")
    good, bad = rows_of(p)
    assert [r.record["q"] for r in good] == ["a"]
    assert len(bad) == 1 and "bad.json:3" in bad[0].message and "element 1" in bad[0].message


def test_json_streams_across_buffer_boundaries(tmp_path: Path) -> None:
    p = tmp_path / "big.json"
    recs = [{"t": "word " * (i % 50), "v": 12345.678 + i} for i in range(20000)]
    p.write_text(json.dumps(recs), encoding="utf-8")
    good, bad = rows_of(p)
    assert not bad and [r.record for r in good] == recs


def test_csv_header_ragged_row_and_quotes(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text('question,answer\n"What, now?","multi\nline"\nonly-one-field\nq2,a2\n', encoding="utf-8")
    good, bad = rows_of(p)
    assert [r.record for r in good] == [
        {"question": "What, now?", "answer": "multi\nline"},
        {"question": "q2", "answer": "a2"},
    ]
    assert len(bad) == 1 and "t.csv:4" in bad[0].message and "1 fields" in bad[0].message


def test_csv_backslash_escaped_quotes(tmp_path: Path) -> None:
    p = tmp_path / "w.csv"
    p.write_text('"Title","Contents"\n"V1","\\"The Iron Legion\\" (1-8)"\n', encoding="utf-8")
    good, bad = rows_of(p)
    assert not bad and good[0].record["Contents"] == '"The Iron Legion" (1-8)'


def test_tsv_without_header(tmp_path: Path) -> None:
    p = tmp_path / "dev.tsv"
    p.write_text(
        "__label__4\tIt 's a lovely film with lovely performances by Buy and Accorsi .\n__label__2\tMeh .\n"
    )
    good, _ = rows_of(p)
    assert good[0].record == {
        "col0": "__label__4",
        "col1": "It 's a lovely film with lovely performances by Buy and Accorsi .",
    }
    assert len(good) == 2


def test_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": [f"doc {i}" for i in range(2500)], "label": list(range(2500))}), p)
    good, bad = rows_of(p)
    assert len(good) == 2500 and not bad and good[7].record == {"text": "doc 7", "label": 7}


def test_text_lines_and_whole_file(tmp_path: Path) -> None:
    p = tmp_path / "t.txt"
    p.write_text("first doc\n\nsecond doc\n", encoding="utf-8")
    assert [r.record["text"] for r in rows_of(p)[0]] == ["first doc", "second doc"]
    assert [r.record["text"] for r in rows_of(p, text_unit="file")[0]] == ["first doc\n\nsecond doc\n"]


def test_compressed_files(tmp_path: Path) -> None:
    gz = tmp_path / "a.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as f:
        f.write('{"q": "zipped"}\n')
    bz = tmp_path / "b.txt.bz2"
    bz.write_bytes(bz2.compress(b"line one\nline two\n"))
    assert rows_of(gz)[0][0].record == {"q": "zipped"}
    assert len(rows_of(bz)[0]) == 2


def test_unreadable_file(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl.gz"
    p.write_bytes(b"not gzip at all")
    with pytest.raises(UnreadableFile, match=r"x\.jsonl\.gz"):
        list(read_file(p, p.name))


def test_folder_data_files_skip_cards_duplicates_labels(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("---\na: 1\n---\n# X\n")
    (tmp_path / "SOURCE.txt").write_text("description: d\n")
    (tmp_path / "test.jsonl").write_text('{"q": "a"}\n')
    (tmp_path / "test.jsonl.gz").write_bytes(gzip.compress(b'{"q": "a"}\n'))
    (tmp_path / "labels.lst").write_text("0\n1\n")
    (tmp_path / "csv" / "200-csv").mkdir(parents=True)
    (tmp_path / "csv" / "200-csv" / "10.csv").write_text("a,b\nx,y\n")
    (tmp_path / "csv" / "200-csv" / "2.csv").write_text("a,b\nx,y\n")
    names = [p.relative_to(tmp_path).as_posix() for p in data_files(tmp_path)]
    assert names == ["test.jsonl", "csv/200-csv/2.csv", "csv/200-csv/10.csv"]


def test_card_summary_skips_front_matter_and_prefers_summary() -> None:
    card = (
        "---\npretty_name: Foo\ntask_categories:\n- qa\n---\n# Dataset Card for Foo\n\n"
        "## Dataset Description\n\n- **Homepage:** https://x.org\n- **Paper:** [p](https://y)\n\n"
        "### Dataset Summary\n\nFoo is a collection of questions about bars, written by people who like bars.\n\n"
        "### Languages\n\nEnglish text written by many many many different annotators.\n"
    )
    assert (
        card_summary(card) == "Foo is a collection of questions about bars, written by people who like bars."
    )


def test_rst_card_and_source_txt_fallback(tmp_path: Path) -> None:
    (tmp_path / "README.rst").write_text(
        "Recipe scrapers\n===============\n\nA simple library that scrapes recipes from many web sites.\n"
    )
    assert folder_description(tmp_path) == "A simple library that scrapes recipes from many web sites."
    other = tmp_path / "other"
    other.mkdir()
    (other / "SOURCE.txt").write_text("repo: r\ndescription: Math word problems.\n  Second line.\nfiles: x\n")
    assert folder_description(other) == "Math word problems. Second line."


def test_resolve_source_kinds(tmp_path: Path, demo_sources: Path) -> None:
    src = resolve_source(str(demo_sources / "snli_dev"))
    assert src.name == "snli_dev" and src.kind == "folder" and "SNLI" in src.description
    assert resolve_source(str(demo_sources / "snli_dev"), description="mine").description == "mine"
    single = resolve_source(str(demo_sources / "svamp" / "SVAMP.json"))
    assert single.name == "SVAMP" and single.kind == "file"
    with pytest.raises(SourceError, match="no_such"):
        resolve_source(str(tmp_path / "no_such"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="empty"):
        resolve_source(str(empty))


def test_save_to_disk_source(tmp_path: Path) -> None:
    import datasets

    datasets.Dataset.from_dict({"question": ["What is up?", "Why?"], "idx": [0, 1]}).save_to_disk(
        tmp_path / "saved"
    )
    src = resolve_source(str(tmp_path / "saved"))
    assert src.kind == "saved"
    rows = [r for r in src.rows() if isinstance(r, Row)]
    assert [r.record["question"] for r in rows] == ["What is up?", "Why?"]
    assert rows[1].row_id == "data:1"


def test_text_cells_flatten_and_skip_non_text() -> None:
    rec = {
        "id": "nt-0",
        "question": {"stem": "Why?", "choices": [{"text": "a b", "label": "A"}, {"text": "c", "label": "B"}]},
        "answerKey": "A",
        "n": 3,
        "score": "12.5",
        "url": "https://example.org/x",
        "sha": "0123456789abcdef0123",
        "ok": True,
        "tags": ["x", "y"],
        "empty": "  ",
    }
    assert text_cells(rec) == {
        "question.stem": "Why?",
        "question.choices.text": "a b\nc",
        "question.choices.label": "A\nB",
        "answerKey": "A",
        "tags": "x\ny",
    }
    assert "id" in text_cells(rec, skip_non_text=False)


def test_split_passages_overlap() -> None:
    words = [f"w{i}" for i in range(450)]
    parts = split_passages(" ".join(words), words=200, overlap=50)
    assert len(parts) == 3
    assert parts[0].split()[-50:] == parts[1].split()[:50]
    assert parts[-1].split()[-1] == "w449"
    assert split_passages("short doc") == ["short doc"]


@pytest.mark.shared
def test_every_shared_source_reads(shared_sources: Path) -> None:
    """Each shared folder resolves, has a description and yields text rows (first 50 rows read)."""
    folders = sorted(p for p in shared_sources.iterdir() if p.is_dir())
    assert len(folders) >= 70
    for folder in folders:
        src = resolve_source(str(folder))
        assert src.description, folder.name
        n = 0
        for item in src.rows():
            if isinstance(item, Row) and text_cells(item.record):
                n += 1
                if n >= 50:
                    break
        assert n > 0, folder.name


def test_corrupt_parquet_and_ragged_tsv(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 but not really parquet")
    with pytest.raises(UnreadableFile, match=r"bad\.parquet"):
        list(read_file(bad, bad.name))
    tsv = tmp_path / "t.tsv"
    tsv.write_text(
        "premise\thypothesis\tlabel\nA dog runs.\tAn animal moves.\tentailment\nonly two\tfields\n"
    )
    good, bad_rows = rows_of(tsv)
    assert good[0].record["label"] == "entailment"
    assert len(bad_rows) == 1 and "t.tsv:3" in bad_rows[0].message
