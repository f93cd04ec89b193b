"""Huge, broken and non-UTF-8 input: nothing is lost or damaged silently, memory stays bounded.

Each test builds (or reads) real files with the real model; the memory test runs real
``taskforge datastore build`` processes and reads their peak RSS from the kernel (``wait4``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from taskforge._datastore import Datastore, build_datastore
from taskforge._datastore._readers import BadRow, Row, read_file

HUGE_ROW_MB = 50


def rows_of(path: Path, **kw: object) -> tuple[list[Row], list[BadRow]]:
    good, bad = [], []
    for item in read_file(path, path.name, **kw):  # type: ignore[arg-type]
        if isinstance(item, Row):
            good.append(item)
        elif isinstance(item, BadRow):
            bad.append(item)
    return good, bad


def nli_rows(n: int) -> list[dict[str, str]]:
    return [
        {"premise": f"A person number {i} walks a dog in the park.", "hypothesis": f"Someone {i} is outside."}
        for i in range(n)
    ]


# ---- JSON arrays: a bad element loses only itself -------------------------------------------
def test_json_array_with_one_bad_element_keeps_the_other_nine(tmp_path: Path) -> None:
    src = tmp_path / "arr"
    src.mkdir()
    elements = [json.dumps(r, indent=2) for r in nli_rows(10)]
    elements[3] = '{\n  "premise": "a broken row",\n  "hypothesis": \n}'  # no value
    (src / "data.json").write_text("[\n" + ",\n".join(elements) + "\n]\n", encoding="utf-8")

    report = build_datastore([src], tmp_path / "ds", max_rows=100)
    entry = report.sources[0]
    assert entry["n_rows"] == 9 and entry["n_malformed"] == 1
    assert "data.json:" in entry["first_errors"][0] and "element 3" in entry["first_errors"][0]
    ds = Datastore.open(tmp_path / "ds")
    kept = [r["row"]["premise"] for r in ds.get_rows(range(ds.n_rows))]
    assert kept == [r["premise"] for i, r in enumerate(nli_rows(10)) if i != 3]


@pytest.mark.parametrize(
    ("text", "kept", "bad_index"),
    [
        ('[{"a": "x0"}, {"a": "x1",,}, {"a": "x2"}]', ["x0", "x2"], 1),  # compact, bad object
        ('[\n{"a": "x0"},\n{"a": "unterminated},\n{"a": "x2"}\n]', ["x0", "x2"], 1),  # open string
        ('[{"a": "x0"}, tru, {"a": "x2"}]', ["x0", "x2"], 1),  # bad literal
        ('[{"a": "x0"}, ], {"a": "x2"}]', ["x0", "x2"], None),  # stray bracket (a notice, no row lost)
        ('[{"a": "x0"} {"a": "x1"}, {"a": "x2"},]', ["x0", "x1", "x2"], None),  # missing / trailing comma
        ('[{"a": "x0"}, {"a": "x1"}, {"a": "x2', ["x0", "x1"], 2),  # truncated file
    ],
)
def test_json_array_recovers_after_each_kind_of_damage(
    tmp_path: Path, text: str, kept: list[str], bad_index: int | None
) -> None:
    p = tmp_path / "d.json"
    p.write_text(text, encoding="utf-8")
    good, bad = rows_of(p)
    assert [r.record["a"] for r in good] == kept
    if bad_index is None:
        assert not bad
    else:
        assert bad and f"element {bad_index}" in bad[0].message and str(p) in bad[0].message


def test_json_keyed_object_with_a_bad_member_keeps_the_rest(tmp_path: Path) -> None:
    p = tmp_path / "keyed.json"
    p.write_text('{"id1": {"q": "a"},\n "id2": {"q": },\n "id3": {"q": "c"}}', encoding="utf-8")
    good, bad = rows_of(p)
    assert [(r.row_id, r.record["q"]) for r in good] == [("keyed.json:id1", "a"), ("keyed.json:id3", "c")]
    assert len(bad) == 1 and "keyed.json:2" in bad[0].message


def test_json_element_over_the_row_limit_is_skipped_and_reported(tmp_path: Path) -> None:
    p = tmp_path / "big.json"
    p.write_text(json.dumps([{"a": "x0"}, {"a": "y" * 5000}, {"a": "x2"}]), encoding="utf-8")
    from taskforge._datastore._readers import ReadOptions

    good, bad = rows_of(p, options=ReadOptions(max_row_bytes=1000))
    assert [r.record["a"] for r in good] == ["x0", "x2"]
    assert len(bad) == 1 and "element 1" in bad[0].message and "--max-row-mb" in bad[0].message


# ---- non-UTF-8: counted with file:line, or decoded as declared; never replaced silently ------
def _latin1_source(folder: Path) -> Path:
    folder.mkdir()
    lines = [json.dumps(r, ensure_ascii=False) for r in nli_rows(4)]
    lines[2] = json.dumps(
        {"premise": "Le café est très bon.", "hypothesis": "Il aime le café."}, ensure_ascii=False
    )
    (folder / "rows.jsonl").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    csv_text = "premise,hypothesis\nA dog runs.,An animal moves.\nUn garçon lit.,Un enfant lit.\nA cat sleeps.,A pet rests.\n"
    (folder / "rows.csv").write_bytes(csv_text.encode("latin-1"))
    return folder


def _all_text(ds: Datastore) -> str:
    return json.dumps(ds.get_rows(range(ds.n_rows)), ensure_ascii=False)


def test_non_utf8_rows_are_counted_with_file_and_line_not_replaced(tmp_path: Path) -> None:
    src = _latin1_source(tmp_path / "latin")
    report = build_datastore([src], tmp_path / "ds")
    entry = report.sources[0]
    assert entry["n_malformed"] == 2 and entry["n_rows"] == 4 + 3 - 2
    errors = " ".join(entry["first_errors"])
    assert "rows.jsonl:3: not valid utf-8" in errors and "rows.csv:3: not valid utf-8" in errors
    assert "--encoding" in errors
    text = _all_text(Datastore.open(tmp_path / "ds"))
    assert "\ufffd" not in text and "caf" not in text and "gar" not in text


def test_declared_encoding_decodes_latin1(tmp_path: Path) -> None:
    src = _latin1_source(tmp_path / "latin")
    report = build_datastore([src], tmp_path / "ds", encoding="latin-1")
    assert report.sources[0]["n_malformed"] == 0 and report.sources[0]["n_rows"] == 7
    text = _all_text(Datastore.open(tmp_path / "ds"))
    assert "Le café est très bon." in text and "Un garçon lit." in text and "\ufffd" not in text


def test_detected_encoding_is_announced(tmp_path: Path) -> None:
    p = tmp_path / "fr.jsonl"
    text = "".join(
        json.dumps(
            {"t": f"Le café numéro {i} était très réputé à Orléans, déjà célèbre."}, ensure_ascii=False
        )
        + "\n"
        for i in range(200)
    )
    p.write_bytes(text.encode("latin-1"))
    from taskforge._datastore._readers import Notice, ReadOptions

    items = list(read_file(p, p.name, options=ReadOptions(encoding="auto")))
    notices = [i for i in items if isinstance(i, Notice)]
    assert notices and "detected" in notices[0].message and str(p) in notices[0].message
    good = [i for i in items if isinstance(i, Row)]
    assert len(good) == 200 and "\ufffd" not in json.dumps([r.record for r in good], ensure_ascii=False)


def test_utf8_with_bom_and_valid_text_is_untouched(tmp_path: Path) -> None:
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + '{"t": "naïve café"}\n'.encode())
    good, bad = rows_of(p)
    assert not bad and good[0].record == {"t": "naïve café"}


# ---- huge rows: cut for the embedder, kept whole in the row store, memory bounded ------------
def test_long_cells_are_cut_for_embedding_and_kept_whole_in_the_row(tmp_path: Path) -> None:
    src = tmp_path / "long"
    src.mkdir()
    rows = nli_rows(3)
    rows[1]["premise"] = "many words here " * 2000  # 32,000 characters
    (src / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = build_datastore([src], tmp_path / "ds")
    assert report.sources[0]["n_cut"] == 1
    ds = Datastore.open(tmp_path / "ds")
    rec = ds.get_rows([1])[0]
    assert rec["row"]["premise"] == rows[1]["premise"]  # the full text is kept
    assert rows[1]["premise"].startswith(rec["cells"]["premise"]) and len(rec["cells"]["premise"]) < 5000


def test_row_over_the_limit_is_skipped_and_reported(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_text(
        json.dumps({"a": "x"}) + "\n" + json.dumps({"a": "y" * 3000}) + "\n" + json.dumps({"a": "z"}) + "\n",
        encoding="utf-8",
    )
    from taskforge._datastore._readers import ReadOptions

    good, bad = rows_of(p, options=ReadOptions(max_row_bytes=1000))
    assert [r.record["a"] for r in good] == ["x", "z"]
    assert len(bad) == 1 and "d.jsonl:2" in bad[0].message and "--max-row-mb" in bad[0].message


def _peak_rss_mb(cmd: list[str], env: dict[str, str], log: Path) -> float:
    """Run ``cmd`` to the end; its peak resident memory (and its children's) from the kernel."""
    with log.open("wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, log.read_text()[-3000:]
    return usage.ru_maxrss / 1024  # KiB on Linux


def test_a_50mb_row_costs_under_half_again_the_memory_of_a_build_without_it(tmp_path: Path) -> None:
    small, huge = tmp_path / "small", tmp_path / "huge"
    rows = nli_rows(20)
    for r in rows[::4]:  # like real sources, some cells fill the model's 256 tokens
        r["premise"] = " ".join(f"The {w} of the river changes with the seasons." for w in range(60))
    for folder in (small, huge):
        folder.mkdir()
        (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    big = {"premise": "word " * (HUGE_ROW_MB * 2**20 // 5), "hypothesis": "a very long row"}
    with (huge / "rows.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(big) + "\n")
    env = {**os.environ, "TASKFORGE_QUIET": "1"}
    base = [sys.executable, "-m", "taskforge", "datastore", "build", "--precision", "fp32"]
    without = _peak_rss_mb([*base, str(small), "--out", str(tmp_path / "ds_small")], env, tmp_path / "a.log")
    with_row = _peak_rss_mb([*base, str(huge), "--out", str(tmp_path / "ds_huge")], env, tmp_path / "b.log")
    ratio = with_row / without
    print(f"peak RSS without the row {without:.0f} MB, with it {with_row:.0f} MB, ratio {ratio:.2f}")
    assert ratio < 1.5
    ds = Datastore.open(tmp_path / "ds_huge")
    assert ds.n_rows == 21 and ds.sources[0].n_malformed == 0
    assert ds.manifest["sources"][0]["n_cut"] == 1  # the huge cell, embedded from its start
    assert len(ds.get_rows([20])[0]["row"]["premise"]) == len(big["premise"])  # kept whole
