"""The CPU expert: MiniLM + classification head trained, saved, reloaded and evaluated."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taskforge import Task
from taskforge._experts import CpuExpert, ExpertError, evaluate, train_cpu_expert

os.environ["TASKFORGE_QUIET"] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

POS = [
    "good great lovely",
    "great fun, I loved it",
    "wonderful and lovely",
    "excellent, really good",
    "I love it, great",
    "superb and wonderful",
]
NEG = [
    "bad awful terrible",
    "awful, I hated it",
    "terrible and boring",
    "really bad, poor",
    "I hate it, awful",
    "dreadful and bad",
]
SAMPLES = [{"input": t, "output": {"label": "positive"}} for t in POS] + [
    {"input": t, "output": {"label": "negative"}} for t in NEG
]
TASK = Task.from_dict(
    {
        "name": "sentiment",
        "instruction": "Positive or negative?",
        "examples": [
            {"input": "nice", "output": {"label": "positive"}},
            {"input": "ugly", "output": {"label": "negative"}},
        ],
        "output_schema": {"label": {"labels": ["negative", "positive"]}},
    }
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cpu") / "expert"
    data = out.parent / "train.jsonl"
    noisy = [*SAMPLES, {"input": "meh", "output": {"label": "neutral"}}]  # not a task label: skipped
    data.write_text("".join(json.dumps(s) + "\n" for s in noisy))
    res = train_cpu_expert(
        TASK, data, out, epochs=1, batch_size=4, lr=1e-4, max_seq_length=32, min_steps=9, threads=1
    )
    assert res.n_samples == 14 and res.info["train"]["n_skipped"] == 1  # 12 samples + the 2 examples
    assert res.info["train"]["n_examples"] == 2
    assert res.losses[-1] < res.losses[0]
    return out


def test_saved_layout_and_settings(trained: Path) -> None:
    info = json.loads((trained / "expert.json").read_text())
    assert info["kind"] == "cpu-classifier"
    assert info["labels"] == ["negative", "positive"]
    assert info["settings"]["max_seq_length"] == 32 and info["settings"]["epochs"] == 3  # raised by min_steps
    assert info["train"]["label_counts"] == {"negative": 7, "positive": 7}
    assert (trained / "model" / "config.json").exists()


def test_reload_predict_and_evaluate(trained: Path, tmp_path: Path) -> None:
    expert = CpuExpert(trained)
    preds = expert.predict([s["input"] for s in SAMPLES])
    assert set(preds) <= {"negative", "positive"}
    acc = sum(p == s["output"]["label"] for p, s in zip(preds, SAMPLES, strict=True)) / len(SAMPLES)
    assert acc >= 0.75
    data = tmp_path / "eval.jsonl"
    data.write_text("".join(json.dumps(s) + "\n" for s in SAMPLES))
    res = evaluate(trained, TASK, data, run_dir=tmp_path / "run")
    assert res.kind == "cpu-classifier" and res.metrics["accuracy"] == pytest.approx(acc)
    assert set(res.metrics) == {"accuracy", "macro_f1", "top_share"}
    saved = json.loads((tmp_path / "run" / "eval" / "results.json").read_text())
    # honest eval: the same expert on the 2 examples alone, and the majority rate, beside the score
    examples_only = saved["baselines"]["examples_only"]
    assert examples_only["n_train"] == 2 and 0 <= examples_only["accuracy"] <= 1
    assert set(examples_only) >= {"accuracy", "macro_f1", "top_share"}
    assert saved["baselines"]["majority"]["accuracy"] == 0.5  # 6 negative, 6 positive
    per_label = saved["diagnostics"]["per_label"]
    assert set(per_label) == {"negative", "positive"}
    assert sum(v["support"] for v in per_label.values()) == 12
    conf = saved["diagnostics"]["confusion"]
    assert conf["labels"] == ["negative", "positive"]
    assert sum(map(sum, conf["matrix"])) == 12
    assert sum(conf["matrix"][i][i] for i in range(2)) == round(acc * 12)


def test_cli_eval_and_inferred_labels(trained: Path, tmp_path: Path) -> None:
    from taskforge._cli import app

    raw = tmp_path / "raw.jsonl"
    raw.write_text(
        "".join(json.dumps({"text": s["input"], "y": s["output"]["label"]}) + "\n" for s in SAMPLES)
    )
    task_yaml = tmp_path / "task.yaml"
    task_yaml.write_text(TASK.to_yaml())
    r = CliRunner().invoke(
        app,
        [
            "eval",
            str(trained),
            "--task",
            str(task_yaml),
            "--data",
            str(raw),
            "--input-fields",
            "text",
            "--output-field",
            "y",
            "--out",
            str(tmp_path / "r.json"),
            "--no-baselines",
        ],
    )
    assert r.exit_code == 0, r.output
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["n"] == 12 and set(saved["baselines"]) == {"majority"}  # no examples-only training
    out = " ".join(r.output.split())
    assert "Expert vs baselines" in out and "majority" in out and "Per label" in out


def test_label_errors(tmp_path: Path) -> None:
    with pytest.raises(ExpertError, match="no sample has one of the labels"):
        train_cpu_expert(TASK, [{"input": "x", "output": {"label": "other"}}], tmp_path / "o")
    free = Task.from_dict(
        {"name": "gen", "instruction": "Write.", "examples": [{"input": "a", "output": "b"}]}
    )
    many = [{"input": str(i), "output": f"free text {i}"} for i in range(100)]
    with pytest.raises(ExpertError, match="classification"):
        train_cpu_expert(free, many, tmp_path / "o")


def test_label_initialised_head_starts_as_zero_shot() -> None:
    """Before any training the head is the zero-shot classifier: 20 x cosine(input, label name)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    from taskforge._experts._cpu import bundled_encoder_path
    from taskforge._experts._heads import COSINE_SCALE, build_model

    labels = ["sports", "cooking", "astronomy"]
    texts = ["The football team won the match.", "Simmer the onions in butter.", "A comet passed Jupiter."]
    tok = AutoTokenizer.from_pretrained(bundled_encoder_path())
    model = build_model(bundled_encoder_path(), len(labels))
    model.init_from_labels(tok, labels)
    with torch.no_grad():
        logits = model(**tok(texts, padding=True, return_tensors="pt")).logits.numpy()
    st = SentenceTransformer(bundled_encoder_path())
    cosine = st.encode(texts, normalize_embeddings=True) @ st.encode(labels, normalize_embeddings=True).T
    assert logits == pytest.approx(COSINE_SCALE * cosine, abs=1e-3)
    assert logits.argmax(-1).tolist() == [0, 1, 2]


def test_source_balance_weights() -> None:
    """A source with one label weighs 0.1 a row; inside a mixed source the labels weigh the same."""
    from taskforge._experts._cpu import SINGLE_LABEL_SOURCE_WEIGHT, _class_weights, _source_balance

    rows = [("a", 1, "rotten")] * 20 + [("b", 0, "amazon")] * 10 + [("c", 1, "amazon")] * 5
    rows += [("d", 0, "rte")] * 2 + [("e", 1, "rte")] * 100
    w = _source_balance(rows)
    assert w[:20] == [SINGLE_LABEL_SOURCE_WEIGHT] * 20  # one label: its style would stand in for it
    assert w[20:30] == [0.5] * 10 and w[30:35] == [1.0] * 5  # amazon: 10 x 0.5 = 5 x 1
    assert w[35:37] == [1.0, 1.0] and w[37] == SINGLE_LABEL_SOURCE_WEIGHT  # 2/100 floored at 0.1
    weighted = [(t, y, x) for (t, y, _), x in zip(rows, w, strict=True)]
    cw = _class_weights(weighted, 2)
    mass = [sum(x for _, y, x in weighted if y == k) for k in (0, 1)]
    assert cw[0] * mass[0] == pytest.approx(cw[1] * mass[1])  # both labels weigh the same in the loss


@pytest.mark.parametrize("pair_encoding", ["siamese", "cross"])
def test_pair_inputs_train_and_reload(tmp_path: Path, pair_encoding: str) -> None:
    """Premise/hypothesis inputs: each side embedded alone (siamese) or read as one two-segment sequence."""
    nli = Task.from_dict(
        {
            "name": "nli",
            "instruction": "Does the premise entail the hypothesis?",
            "examples": [
                {"input": {"premise": "A dog runs.", "hypothesis": "An animal moves."}, "output": "yes"},
                {"input": {"premise": "A cat sleeps.", "hypothesis": "The cat is running."}, "output": "no"},
            ],
            "output_schema": {"output": {"labels": ["yes", "no"]}},
        }
    )
    pairs = [
        ({"premise": "Kids play football.", "hypothesis": "Children play a game."}, "yes"),
        ({"premise": "A man cooks pasta.", "hypothesis": "Someone makes food."}, "yes"),
        ({"premise": "A woman reads a book.", "hypothesis": "The woman is swimming."}, "no"),
        ({"premise": "Two birds sing.", "hypothesis": "The birds are silent."}, "no"),
    ]
    data = [{"input": i, "output": o} for i, o in pairs]
    out = tmp_path / "expert"
    res = train_cpu_expert(
        nli, data, out, epochs=2, batch_size=4, max_seq_length=32, pair_encoding=pair_encoding
    )
    assert res.info["text_pair"] and res.info["settings"]["pair_encoding"] == pair_encoding
    assert res.info["settings"]["pair_cosine"] == (pair_encoding == "cross")  # the default for cross pairs
    expert = CpuExpert(out)
    assert expert.siamese == (pair_encoding == "siamese")
    probs = expert.predict_proba([i for i, _ in pairs])
    assert probs.shape == (4, 2) and probs.sum(1) == pytest.approx([1.0] * 4, abs=1e-3)
    assert set(expert.predict([i for i, _ in pairs])) <= {"yes", "no"}


def test_pair_cosine_lets_a_few_examples_teach_a_pair_relation(tmp_path: Path) -> None:
    """Two-field inputs: the head also reads the two sides' cosine under the untrained encoder, so
    one example per label of "same question or not", with label names that say nothing, classifies
    new pairs (a linear probe); without that column the same probe guesses. Fine-tuning keeps it."""
    same = {"q1": "How do I learn to swim?", "q2": "How can I learn swimming?"}
    other = {"q1": "How do I learn to swim?", "q2": "Why is the sky blue?"}
    task = Task.from_dict(
        {
            "name": "pairs",
            "instruction": "Label the pair of questions.",
            "examples": [{"input": same, "output": "a"}, {"input": other, "output": "b"}],
            "output_schema": {"output": {"labels": ["a", "b"]}},
        }
    )
    new = [
        ({"q1": "How can I lose weight fast?", "q2": "What is the quickest way to lose weight?"}, "a"),
        ({"q1": "Who wrote Hamlet?", "q2": "Who is the author of Hamlet?"}, "a"),
        ({"q1": "How do I bake bread?", "q2": "What is the best way to make bread at home?"}, "a"),
        ({"q1": "How can I lose weight fast?", "q2": "Who painted the Mona Lisa?"}, "b"),
        ({"q1": "Who wrote Hamlet?", "q2": "How do airplanes stay in the air?"}, "b"),
        ({"q1": "How do I bake bread?", "q2": "What is the population of Canada?"}, "b"),
    ]
    inputs, golds = [i for i, _ in new], [y for _, y in new]
    res = train_cpu_expert(task, [], tmp_path / "cos", threads=1, max_seq_length=32)
    assert res.info["settings"]["pair_cosine"] is True and res.info["settings"]["probe"] is True
    expert = CpuExpert(tmp_path / "cos")
    assert expert.predict(inputs) == golds
    examples = [{"input": e.input, "output": e.output} for e in task.examples]
    assert expert.model.cosine_centre.item() == pytest.approx(sum(_cosines(expert, examples)) / 2, abs=1e-4)

    train_cpu_expert(task, [], tmp_path / "plain", threads=1, max_seq_length=32, pair_cosine=False)
    plain = CpuExpert(tmp_path / "plain").predict(inputs)
    assert sum(p == g for p, g in zip(plain, golds, strict=True)) < len(golds)

    rows = [{"input": i, "output": y} for i, y in new]  # fine-tuned (3 rows per label): still reads it
    tuned = train_cpu_expert(task, rows, tmp_path / "tuned", threads=1, epochs=2, max_seq_length=32)
    assert tuned.info["settings"]["pair_cosine"] is True and tuned.info["train"]["epochs_run"] == 2
    assert CpuExpert(tmp_path / "tuned").predict(inputs) == golds


def _cosines(expert: CpuExpert, rows: list[dict]) -> list[float]:
    """The untrained encoder's cosine of each row's two sides (what the expert's head reads)."""
    from taskforge._experts._cpu import pair_cosines
    from taskforge._experts._data import classifier_text

    texts = [classifier_text(r["input"]) for r in rows]
    cos = pair_cosines(expert.cosine_encoder, expert.tokenizer, texts, 32)
    return [cos[t] for t in texts]


def test_examples_only_expert_probes_few_examples_and_keeps_unseen_labels(tmp_path: Path) -> None:
    """Two examples of a five-label task: the examples-only expert is a linear probe (encoder as it
    came, bias and weights pulled to the label names' start), so the three labels no example shows
    are still predicted for inputs that plainly name them; with enough examples it fine-tunes."""
    from taskforge._experts._train import examples_only_expert, examples_only_options

    labels = ["sports", "cooking", "astronomy", "finance", "music"]
    task = Task.from_dict(
        {
            "name": "topics",
            "instruction": "Which topic?",
            "examples": [
                {"input": "The striker scored twice in the derby.", "output": {"topic": "sports"}},
                {"input": "Simmer the onions in butter until soft.", "output": {"topic": "cooking"}},
            ],
            "output_schema": {"topic": {"labels": labels}},
        }
    )
    res = examples_only_expert(task, {"settings": {"threads": 1}}, tmp_path / "ex")
    settings = res.info["settings"]
    assert settings["probe"] is True and settings["epochs"] == 0 and res.info["train"]["epochs_run"] == 0
    unseen = [
        "The telescope photographed a comet near Jupiter and a distant galaxy.",
        "Stock markets fell as the bank raised interest rates and bond yields rose.",
        "The orchestra played a symphony and the band released a new album of songs.",
    ]
    assert CpuExpert(tmp_path / "ex").predict(unseen) == ["astronomy", "finance", "music"]

    assert settings["probe_below"] == 2.0

    # the same rule whatever the rows are: 2 examples + 1 sample of a 5-label task is a probe too,
    # 2 examples + 8 samples (2 rows per label) fine-tunes; probe_below=0 turns it off
    one = [{"input": "The comet passed Saturn's rings.", "output": {"topic": "astronomy"}}]
    probed = train_cpu_expert(task, one, tmp_path / "one", threads=1)
    assert probed.info["settings"]["probe"] is True and probed.info["train"]["epochs_run"] == 0
    eight = [
        {"input": f"{lab} story number {i}", "output": {"topic": lab}} for lab in labels[1:] for i in (1, 2)
    ]
    tuned = train_cpu_expert(task, eight, tmp_path / "eight", threads=1, epochs=1, max_seq_length=16)
    assert tuned.info["settings"]["probe"] is False and tuned.info["train"]["epochs_run"] == 1
    off = train_cpu_expert(task, one, tmp_path / "off", threads=1, epochs=1, probe_below=0, max_seq_length=16)
    assert off.info["settings"]["probe"] is False and off.info["train"]["epochs_run"] == 1
    assert examples_only_options({"epochs": 4})["min_steps"] == 30
