"""Quality-control filters on real rows (demo/sources) turned into samples in the documented format."""

from __future__ import annotations

import copy
import csv
import itertools
import json
import os
from pathlib import Path

import pytest

from taskforge import SettingsError, Task
from taskforge._io import read_jsonl
from taskforge._quality import (
    DecontaminationFilter,
    ExactDuplicateFilter,
    FewShotSimilarityFilter,
    FilterSettings,
    FormatFilter,
    JudgeFilter,
    LabelBalanceFilter,
    NearDuplicateFilter,
    NgramIndex,
    filter_samples,
    judge_prompt,
    judge_says,
    read_eval_rows,
    rouge_tokenize,
)

os.environ["TASKFORGE_QUIET"] = "1"
ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo" / "sources"
EXAMPLES = ROOT / "examples"


def _rows(source: str, name: str, limit: int) -> list[dict]:
    rows = list(read_jsonl(DEMO / source / name))[:limit]
    return [{**r, "_line": i} for i, r in enumerate(rows)]


def _prov(source: str, file: str, i: int) -> dict:
    return {
        "source": source,
        "row_id": f"{file}:{i}",
        "rank": i + 1,
        "scores": {"final": 0.5},
        "method": "mapper",
        "model": None,
        "prompt_hash": None,
        "sample_index": 0,
    }


def nli_samples(limit: int = 120) -> list[dict]:
    """SciTail rows as samples of examples/nli.yaml (labels entailment / not_entailment)."""
    return [
        {
            "id": f"s-sci-{r['_line']}",
            "input": {"premise": r["premise"], "hypothesis": r["hypothesis"]},
            "output": {"label": r["label"]},
            "provenance": _prov("scitail_test", "test.jsonl", r["_line"]),
        }
        for r in _rows("scitail_test", "test.jsonl", limit)
    ]


def math_samples(limit: int = 150) -> list[dict]:
    """GSM8K rows as samples of examples/math.yaml (reasoning + final answer)."""
    out = []
    for r in _rows("gsm8k", "train.jsonl", limit):
        reasoning, _, answer = r["answer"].rpartition("####")
        out.append(
            {
                "id": f"s-gsm-{r['_line']}",
                "input": r["question"],
                "output": f"The answer is {answer.strip()}.",
                "reasoning": reasoning.strip(),
                "provenance": _prov("gsm8k", "train.jsonl", r["_line"]),
            }
        )
    return out


@pytest.fixture(scope="module")
def nli_task() -> Task:
    return Task.load(EXAMPLES / "nli.yaml")


@pytest.fixture(scope="module")
def math_task() -> Task:
    return Task.load(EXAMPLES / "math.yaml")


# ---- format ----------------------------------------------------------------------------------
def test_format_filter_checks_schema(nli_task: Task) -> None:
    good = nli_samples(20)
    bad = copy.deepcopy(good[:6])
    del bad[0]["input"]["hypothesis"]
    bad[1]["output"]["label"] = "neutral"
    bad[2]["input"]["premise"] = "   "
    bad[3]["input"]["extra"] = "x"
    bad[4]["output"] = "entailment"
    bad[5]["output"]["label"] = 3
    rejects: list[dict] = []
    f = FormatFilter(nli_task)
    kept = f.apply(good + bad, rejects)
    assert kept == good
    reasons = [r["reason"] for r in rejects]
    assert "lacks field(s) ['hypothesis']" in reasons[0]
    assert "not one of the allowed labels" in reasons[1]
    assert reasons[2] == "input.premise: empty"
    assert "unexpected field(s) ['extra']" in reasons[3]
    assert "must be an object" in reasons[4]
    assert "expected a string" in reasons[5]
    assert all(r["filter"] == "format" and r["stage"] == "filter" for r in rejects)
    assert rejects[0]["item"] == {"source": "scitail_test", "row_id": "test.jsonl:0"}
    assert f.dropped["format"] == 6


def test_format_filter_length_bounds_and_types() -> None:
    task = Task.from_dict(
        {
            "name": "t",
            "instruction": "Answer with a number and a short summary.",
            "examples": [{"input": "q", "output": {"answer": "3", "summary": "three"}}],
            "output_schema": {
                "answer": {"type": "integer"},
                "summary": {"min_length": 3, "max_length": 20},
            },
        }
    )
    samples = [
        {"input": "a question", "output": {"answer": 7, "summary": "seven apples"}},
        {"input": "a question", "output": {"answer": "7.5", "summary": "seven apples"}},
        {"input": "a question", "output": {"answer": "7", "summary": "ok"}},
        {"input": "a question", "output": {"answer": "7", "summary": "x" * 21}},
    ]
    rejects: list[dict] = []
    kept = FormatFilter(task).apply(samples, rejects)
    assert kept == samples[:1]
    assert "expected an integer" in rejects[0]["reason"]
    assert "fewer than min_length 3" in rejects[1]["reason"]
    assert "more than max_length 20" in rejects[2]["reason"]


# ---- duplicates --------------------------------------------------------------------------------
def test_exact_duplicates_keep_first_and_name_it(math_task: Task) -> None:
    samples = math_samples(40)
    dup = copy.deepcopy(samples[3])
    dup["id"] = "s-copy"
    dup["input"] = "  " + dup["input"].upper().replace(" ", "   ") + "\n"
    rejects: list[dict] = []
    kept = ExactDuplicateFilter().apply([*samples, dup], rejects)
    assert kept == samples
    assert len(rejects) == 1 and rejects[0]["reason"] == f"same text as {samples[3]['id']}"
    assert rejects[0]["sample"]["id"] == "s-copy"


def test_near_duplicate_minhash_planted(math_task: Task) -> None:
    samples = math_samples(150)
    near = copy.deepcopy(samples[10])
    near["id"] = "s-near"
    words = near["input"].split()
    words[len(words) // 2] = "exactly"  # one word changed in the question; same solution
    near["input"] = " ".join(words)
    rejects: list[dict] = []
    f = NearDuplicateFilter(0.8)
    kept = f.apply([*samples, near], rejects)
    assert kept == samples  # no real GSM8K problem is dropped
    assert [r["sample"]["id"] for r in rejects] == ["s-near"]
    assert rejects[0]["reason"].startswith(f"near-duplicate of {samples[10]['id']} (estimated Jaccard")
    # the threshold is a setting: at 0.99 the edited copy is not a near duplicate any more
    assert len(NearDuplicateFilter(0.99).apply([*samples, near], [])) == len(samples) + 1


def test_fewshot_similarity_drops_copies_of_examples(math_task: Task) -> None:
    samples = math_samples(60)
    ex = math_task.examples[1]
    copied = {
        "id": "s-fewshot",
        "input": str(ex.input).replace("Monday", "Tuesday"),
        "output": str(ex.output),
        "provenance": _prov("gsm8k", "train.jsonl", 999),
    }
    rejects: list[dict] = []
    kept = FewShotSimilarityFilter(math_task).apply([*samples, copied], rejects)
    assert kept == samples
    assert len(rejects) == 1
    assert "with few-shot example 1" in rejects[0]["reason"] and rejects[0]["filter"] == "fewshot_similarity"


# ---- decontamination ------------------------------------------------------------------------------
def _plantable(samples: list[dict]) -> dict:
    """A sample whose premise words 2..14 are 13 plain tokens (so exactly one 13-gram gets planted)."""
    for s in samples:
        words = s["input"]["premise"].split()
        if (
            len(words) >= 20
            and len(rouge_tokenize(" ".join(words[1:14]))) == 13
            and words[14].lower() != "and"
        ):
            return s
    raise AssertionError("no plantable sample")


def _plant_eval(tmp_path: Path, sample: dict, kind: str = "jsonl") -> Path:
    """An eval set of other SNLI rows plus one row embedding 13 words of ``sample``'s premise."""
    words = sample["input"]["premise"].split()
    assert len(words) >= 14
    planted = "Background: " + " ".join(words[1:14]) + " and more text after it."
    rows = [
        {"premise": r["premise"], "hypothesis": r["hypothesis"], "label": r["label"]}
        for r in _rows("snli_dev", "dev.jsonl", 50)
    ]
    rows.append({"premise": planted, "hypothesis": "Something else entirely.", "label": "neutral"})
    path = tmp_path / f"eval_set.{kind}"
    if kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif kind == "json":
        path.write_text(json.dumps({"version": "1", "data": rows}), encoding="utf-8")
    else:
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=["premise", "hypothesis", "label"])
            w.writeheader()
            w.writerows(rows)
    return path


@pytest.mark.parametrize("kind", ["jsonl", "json", "csv"])
def test_decontamination_planted_13gram(tmp_path: Path, kind: str) -> None:
    samples = nli_samples(120)
    target = _plantable(samples)
    path = _plant_eval(tmp_path, target, kind)
    assert len(read_eval_rows(path)) == 51
    index = NgramIndex.from_file(path, 13)
    rejects: list[dict] = []
    f = DecontaminationFilter([index])
    kept = f.apply(samples, rejects)
    assert [r["sample"]["id"] for r in rejects] == [target["id"]]
    assert "shares 13-gram(s) with eval set 'eval_set'" in rejects[0]["reason"]
    assert len(kept) == len(samples) - 1
    rep = f.report()["contamination"]["eval_set"]
    assert rep["n"] == 1 and rep["rate"] == pytest.approx(1 / len(samples))

    # report-only: the overlap rate is measured, nothing is removed
    f2 = DecontaminationFilter([index], drop=False)
    assert len(f2.apply(samples, [])) == len(samples)
    assert f2.report()["contamination"]["eval_set"]["n"] == 1


def test_decontamination_n_is_configurable(tmp_path: Path) -> None:
    samples = nli_samples(60)
    target = _plantable(samples)
    path = _plant_eval(tmp_path, target)
    # 13 planted words contain no 14-gram: at n=14 the sample is clean
    assert DecontaminationFilter([NgramIndex.from_file(path, 14)]).apply(samples, []) == samples


# ---- label balance --------------------------------------------------------------------------------
def test_label_balance_caps_each_label(nli_task: Task) -> None:
    samples = nli_samples(120)
    rejects: list[dict] = []
    kept = LabelBalanceFilter(nli_task, 10).apply(samples, rejects)
    counts: dict[str, int] = {}
    for s in kept:
        counts[s["output"]["label"]] = counts.get(s["output"]["label"], 0) + 1
    assert counts == {"entailment": 10, "not_entailment": 10}
    assert kept == [s for s in samples if s in kept]  # first ones, order kept
    assert "already has 10 samples" in rejects[0]["reason"]


# ---- judge (a stub LLM with the documented run() interface) -------------------------------------------
class _Result:
    def __init__(self, request, ok: bool, text: str | None, error: str | None = None) -> None:
        self.request, self.ok, self.text, self.error, self.cached = request, ok, text, error, False


class StubLLM:
    """Answers per sample via ``answer(prompt) -> (ok, text)``; records the prompts (the LLMClient protocol)."""

    spec = "stub:judge"

    def __init__(self, answer) -> None:
        from taskforge._llm import LLMStats

        self.answer, self.prompts, self.stats = answer, [], LLMStats()

    def run(self, requests):
        for req in reversed(list(requests)):  # completion order differs from request order
            prompt = req.messages[-1]["content"]
            self.prompts.append(prompt)
            ok, text = self.answer(prompt)
            yield _Result(req, ok, text if ok else None, None if ok else text)


def test_judge_prompt_is_rebase_b2(nli_task: Task) -> None:
    s = nli_samples(1)[0]
    p = judge_prompt(nli_task, s)
    assert p.startswith(
        "You will be given a task description. Your task is to determine whether a data is fitful"
    )
    assert nli_task.instruction.strip() in p
    assert "# Fitful Examples that meet the task's request:" in p
    assert json.dumps(s["input"]["premise"])[1:-1] in p
    assert p.rstrip().endswith("Response (Yes or No):")
    assert judge_says("Yes.") is True and judge_says(" no, because") is False
    assert judge_says("Maybe") is None and judge_says("") is None
    assert judge_says("<think>no idea yet</think>\n**Yes**") is True
    assert judge_says("The data fits, so: yes") is True  # a choice named after some words


def test_judge_drops_no_and_records_failures(nli_task: Task) -> None:
    pytest.importorskip("taskforge._llm", reason="LLM layer not there yet")
    try:
        from taskforge._llm import GenerationOptions, LLMRequest  # noqa: F401
    except ImportError:
        pytest.skip("LLM layer not there yet")
    samples = nli_samples(12)
    no_ids = {samples[1]["id"], samples[4]["id"]}
    fail_id, odd_id = samples[7]["id"], samples[9]["id"]
    by_premise = {s["input"]["premise"]: s["id"] for s in samples}

    def answer(prompt: str) -> tuple[bool, str]:
        sid = next(i for p, i in by_premise.items() if json.dumps(p)[1:-1] in prompt)
        if sid == fail_id:
            return False, "HTTP 500 after 6 retries"
        if sid == odd_id:
            return True, "I cannot tell."
        return True, "No" if sid in no_ids else "Yes"

    rejects: list[dict] = []
    f = JudgeFilter(nli_task, StubLLM(answer))
    kept = f.apply(samples, rejects)
    assert {s["id"] for s in kept} == {s["id"] for s in samples} - no_ids - {fail_id, odd_id}
    by_filter = {r["sample"]["id"]: r for r in rejects}
    assert by_filter[fail_id]["filter"] == "judge_error" and "HTTP 500" in by_filter[fail_id]["reason"]
    assert by_filter[odd_id]["filter"] == "judge_error" and by_filter[odd_id]["raw"] == "I cannot tell."
    assert all(by_filter[i]["filter"] == "judge" for i in no_ids)

    kept2 = JudgeFilter(nli_task, StubLLM(answer), on_error="keep").apply(samples, [])
    assert {s["id"] for s in kept2} == {s["id"] for s in samples} - no_ids


# ---- the whole stage ----------------------------------------------------------------------------------
def test_filter_samples_writes_outputs(tmp_path: Path, nli_task: Task) -> None:
    samples = nli_samples(150)
    dup = copy.deepcopy(samples[5])
    dup["id"] = "s-dup"
    broken = copy.deepcopy(samples[6])
    broken["id"] = "s-broken"
    broken["output"]["label"] = "maybe"
    target = _plantable(samples)
    eval_path = _plant_eval(tmp_path, target)
    res = filter_samples(
        nli_task,
        [*samples, dup, broken],
        tmp_path / "out",
        settings=FilterSettings(max_per_label=60),
        eval_files=[eval_path],
    )
    funnel = json.loads((tmp_path / "out" / "funnel.json").read_text())
    assert funnel == json.loads(json.dumps(res.funnel))
    assert funnel["in"] == 152
    assert list(funnel["dropped"]) == [
        "format",
        "exact_duplicate",
        "near_duplicate",
        "fewshot_similarity",
        "decontamination",
        "label_balance",
    ]
    assert funnel["dropped"]["format"] == 1 and funnel["dropped"]["exact_duplicate"] >= 1
    assert funnel["dropped"]["decontamination"] == 1
    assert funnel["out"] == funnel["in"] - sum(funnel["dropped"].values())
    assert funnel["contamination"]["eval_set"]["n"] == 1
    assert funnel["settings"]["max_per_label"] == 60
    kept = list(read_jsonl(tmp_path / "out" / "kept.jsonl"))
    rejects = list(read_jsonl(tmp_path / "out" / "rejects.jsonl"))
    assert len(kept) == funnel["out"] and len(rejects) == sum(funnel["dropped"].values())
    assert {r["filter"] for r in rejects} <= set(funnel["dropped"])
    assert {"stage", "filter", "reason", "item", "sample", "raw"} == set(rejects[0])


def test_settings_from_task_defaults_and_overrides() -> None:
    raw = Task.load(EXAMPLES / "nli.yaml").model_dump(mode="json", exclude_none=True)
    raw["defaults"] = {"filter": {"near_dup_threshold": 0.9, "ngram": 8, "max_per_label": 5}}
    task = Task.from_dict(raw)
    s = FilterSettings.for_task(task, {"ngram": None, "max_per_label": 7})
    assert (s.near_dup_threshold, s.ngram, s.max_per_label) == (0.9, 8, 7)
    with pytest.raises(SettingsError, match="near_dup_threshold"):
        FilterSettings.for_task(task, {"near_dup_threshold": 1.5})
    with pytest.raises(SettingsError, match=r"filter\.ngramz.*allowed filter: format, exact_dedup"):
        FilterSettings.for_task(task, {"ngramz": 3})


def test_cli_filter(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from taskforge._cli import app

    samples = nli_samples(80)
    src = tmp_path / "samples.jsonl"
    src.write_text("".join(json.dumps(s) + "\n" for s in [*samples, samples[0]]), encoding="utf-8")
    target = _plantable(samples)
    eval_path = _plant_eval(tmp_path, target)
    result = CliRunner().invoke(
        app,
        [
            "filter",
            str(EXAMPLES / "nli.yaml"),
            str(src),
            "--out",
            str(tmp_path / "f"),
            "--eval",
            str(eval_path),
            "--max-per-label",
            "30",
            "--report-only",
        ],
    )
    assert result.exit_code == 0, result.output
    funnel = json.loads((tmp_path / "f" / "funnel.json").read_text())
    assert funnel["dropped"]["exact_duplicate"] == 1
    assert funnel["dropped"]["decontamination"] == 0 and funnel["contamination"]["eval_set"]["n"] == 1
    assert funnel["settings"]["max_per_label"] == 30


def test_judge_through_llm_layer_with_cache(tmp_path: Path, nli_task: Task) -> None:
    """End to end over real HTTP (FakeLLMServer): "no" drops, failures are judge_error, re-runs hit the cache."""
    pytest.importorskip("taskforge.testing")
    from taskforge._llm import LLM
    from taskforge.testing import FakeLLMServer, last_user_message

    samples = nli_samples(10)
    no_premise = samples[2]["input"]["premise"]
    bad_premise = samples[5]["input"]["premise"]
    broken = {"on": True}

    def responder(body: dict) -> str:
        prompt = last_user_message(body)
        assert prompt.startswith("You will be given a task description.")
        if json.dumps(bad_premise)[1:-1] in prompt and broken["on"]:
            raise RuntimeError("server fault")  # -> HTTP 500 on every attempt
        return "No." if json.dumps(no_premise)[1:-1] in prompt else "Yes"

    with FakeLLMServer(responder=responder) as server:
        llm = LLM.from_spec(
            "openai:fake",
            base_url=server.openai_url,
            cache_path=tmp_path / "c.sqlite",
            max_retries=1,
            backoff_base=0.01,
        )
        try:
            settings = FilterSettings(near_dup=False, fewshot=False)
            res = filter_samples(nli_task, samples, tmp_path / "a", settings=settings, judge=llm)
            assert res.funnel["dropped"]["judge"] == 1 and res.funnel["dropped"]["judge_error"] == 1
            errors = [r for r in res.rejects if r["filter"] == "judge_error"]
            assert (
                errors[0]["sample"]["id"] == samples[5]["id"] and "judge call failed" in errors[0]["reason"]
            )
            assert res.funnel["judge"]["errors"] == 1 and res.funnel["judge"]["model"] == "openai:fake"
            calls = server.request_count

            broken["on"] = False  # the server recovers: a re-run asks only about the failed sample
            res2 = filter_samples(nli_task, samples, tmp_path / "b", settings=settings, judge=llm)
            assert res2.funnel["dropped"]["judge_error"] == 0 and len(res2.kept) == 9
            assert server.request_count == calls + 1
        finally:
            llm.close()


SHARED = ROOT.parent / "shared" / "datastore-sources"


@pytest.mark.shared
@pytest.mark.skipif(
    not (SHARED / "gsm8k" / "test.jsonl").exists(), reason="../shared/datastore-sources absent"
)
def test_decontamination_against_real_gsm8k_test(tmp_path: Path, math_task: Task) -> None:
    """Samples made from GSM8K *test* rows are caught by the GSM8K test set; train rows (almost) are not."""
    test_rows = list(itertools.islice(read_jsonl(SHARED / "gsm8k" / "test.jsonl"), 20))
    leaked = [
        {
            "id": f"s-leak-{i}",
            "input": r["question"],
            "output": "The answer is 1.",
            "provenance": _prov("gsm8k", "test.jsonl", i),
        }
        for i, r in enumerate(test_rows)
    ]
    res = filter_samples(
        math_task,
        [*math_samples(200), *leaked],
        tmp_path,
        settings=FilterSettings(near_dup=False, fewshot=False),
        eval_files=[SHARED / "gsm8k" / "test.jsonl"],
    )
    dropped = {r["sample"]["id"] for r in res.rejects if r["filter"] == "decontamination"}
    assert {s["id"] for s in leaked if len(rouge_tokenize(s["input"])) >= 13} <= dropped
    # GSM8K train itself shares a few 13-grams with test (train row 20 and a test problem both
    # "bought stamps at the post office some of the stamps had a snowflake ..."): real, and rare
    assert len([i for i in dropped if i.startswith("s-gsm-")]) <= 2
    assert res.funnel["contamination"]["test"]["n"] == len(dropped)
