"""Labelled parts inside plain-string inputs ("Premise: ... Hypothesis: ...")."""

from taskforge import Task
from taskforge._parts import PartLayout, detect_parts


def test_inline_pair_is_split_and_rejoined_in_its_layout():
    texts = [
        "Premise: A man sleeps. Hypothesis: A person rests.",
        "Premise: Dogs bark: loudly. Hypothesis: Cats meow.",
    ]
    layout = detect_parts(texts)
    assert layout == PartLayout(("Premise", "Hypothesis"), " ")
    assert layout.fields == ("premise", "hypothesis")
    assert layout.split(texts[1]) == {"premise": "Dogs bark: loudly.", "hypothesis": "Cats meow."}
    assert layout.join({"premise": "a", "hypothesis": "b"}) == "Premise: a Hypothesis: b"


def test_a_label_only_one_example_uses_stays_content():
    texts = [
        "Context: The Nile is long. Note: it flows north.\nQuestion: Which way does it flow?",
        "Context: Paris is big.\nQuestion: Is Paris big?",
    ]
    layout = detect_parts(texts)
    assert layout is not None and layout.names == ("Context", "Question") and layout.separator == "\n"
    assert layout.split(texts[0])["context"] == "The Nile is long. Note: it flows north."
    assert layout.join({"context": "x", "question": "y"}) == "Context: x\nQuestion: y"


def test_plain_texts_and_colons_in_values_have_no_parts():
    assert detect_parts(["Is the sky blue?", "Do fish swim?"]) is None
    assert detect_parts(["Ratio: 3:4 is it", "Time: 10:30 am"]) is None
    assert detect_parts([]) is None


def test_task_exposes_the_parts_of_plain_string_inputs():
    task = Task.model_validate(
        {
            "name": "nli",
            "instruction": "Decide.",
            "examples": [
                {"input": "Premise: a b c\nHypothesis: d e", "output": "entailment"},
                {"input": "Premise: f g\nHypothesis: h", "output": "neutral"},
            ],
        }
    )
    assert task.input_parts() == PartLayout(("Premise", "Hypothesis"), "\n")
    named = Task.model_validate(
        {
            "name": "t",
            "instruction": "i",
            "examples": [{"input": {"premise": "Premise: a Hypothesis: b"}, "output": "x"}],
        }
    )
    assert named.input_parts() is None
