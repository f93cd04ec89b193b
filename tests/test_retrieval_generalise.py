"""Retrieval that generalises (issue 12), on a tiny real datastore of synthetic rows, real embedder.

Each test builds on one store in tmp_path: NLI sources with and without the third label, passage
QA and bare questions described alike, yes/no and multiple-choice questions described alike, and
science exam questions (no medical source). The label resolver is the transform stage's mapper,
passed in as the pipeline and the CLI do.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from taskforge._retrieval import retrieve
from taskforge._retrieval._methods import description_scores
from taskforge._task import Task

NLI2 = [  # a source labelled entailment / not_entailment only, whose card reads like the task
    ("The cat sat on the warm windowsill all afternoon.", "A cat was resting by the window.", "entailment"),
    ("The bakery on Main Street closed last year.", "The bakery is still selling bread.", "not_entailment"),
    ("Maria finished the marathon in under four hours.", "Maria ran a marathon.", "entailment"),
    ("The museum is closed on Mondays.", "The museum opens every day of the week.", "not_entailment"),
    (
        "A storm knocked down power lines across the town.",
        "The town lost power lines in a storm.",
        "entailment",
    ),
    ("He bought a red bicycle for his daughter.", "He sold his daughter's bicycle.", "not_entailment"),
    ("The river flooded the fields after heavy rain.", "Heavy rain led to flooding.", "entailment"),
    ("The train to Boston leaves at noon.", "The train departs in the evening.", "not_entailment"),
    ("Tom planted tomatoes in his garden in May.", "Tom grows vegetables.", "entailment"),
    ("The library bought two hundred new books.", "The library has no books.", "not_entailment"),
    ("Anna speaks French and Spanish fluently.", "Anna speaks two languages.", "entailment"),
    ("The concert was cancelled because of rain.", "The concert went ahead as planned.", "not_entailment"),
    ("The chef cooked pasta for the guests.", "The guests were served food.", "entailment"),
    ("The shop sells only winter coats.", "The shop sells swimsuits.", "not_entailment"),
]
NLI3 = [  # a source with all three labels, described less like the instruction
    ("A boy is kicking a ball in a park.", "A child is playing outside.", "entailment"),
    ("A boy is kicking a ball in a park.", "The boy is asleep in his bed.", "contradiction"),
    ("A boy is kicking a ball in a park.", "The boy is playing with his father.", "neutral"),
    ("Two women are drinking coffee at a cafe.", "People are having drinks.", "entailment"),
    ("Two women are drinking coffee at a cafe.", "The women are swimming in a lake.", "contradiction"),
    ("Two women are drinking coffee at a cafe.", "The women are old friends.", "neutral"),
    ("A man is fixing a car engine.", "Someone is repairing a vehicle.", "entailment"),
    ("A man is fixing a car engine.", "The man is painting a picture.", "contradiction"),
    ("A man is fixing a car engine.", "The man is a professional mechanic.", "neutral"),
    ("A dog runs along the beach.", "An animal is outdoors.", "entailment"),
    ("A dog runs along the beach.", "The dog is sleeping indoors.", "contradiction"),
    ("A dog runs along the beach.", "The dog is chasing a ball.", "neutral"),
]
PASSAGES = [  # passage, question, span answer
    (
        "The Danube is Europe's second-longest river. It rises in the Black Forest in Germany and flows "
        "through ten countries, including Austria, Hungary and Serbia, before reaching the Black Sea.",
        "Where does the Danube rise?",
        "the Black Forest",
    ),
    (
        "Alexander Fleming was a Scottish physician and microbiologist. In 1928 he noticed that a mould "
        "had killed the bacteria in one of his dishes, and the discovery led to penicillin.",
        "What did Fleming's discovery lead to?",
        "penicillin",
    ),
    (
        "The Colosseum is an ancient amphitheatre in the centre of Rome. Built of travertine and concrete, "
        "it could hold up to 80,000 spectators, who watched gladiator fights and public spectacles.",
        "How many spectators could the Colosseum hold?",
        "up to 80,000",
    ),
    (
        "The Sahara is the largest hot desert in the world, covering much of North Africa. Its climate has "
        "changed between wet and dry over the last few hundred thousand years.",
        "Which continent is the Sahara in?",
        "Africa",
    ),
    (
        "Ada Lovelace was an English mathematician who worked with Charles Babbage on his proposed "
        "Analytical Engine. Her notes include what is often called the first computer program.",
        "Who did Ada Lovelace work with?",
        "Charles Babbage",
    ),
    (
        "Mount Kilimanjaro is a dormant volcano in Tanzania. With its summit at about 5,895 metres, it is "
        "the highest mountain in Africa and the highest free-standing mountain in the world.",
        "In which country is Kilimanjaro?",
        "Tanzania",
    ),
    (
        "The Panama Canal is an artificial waterway that connects the Atlantic Ocean with the Pacific "
        "Ocean. It opened in 1914 and cuts the sailing distance between the two coasts of America.",
        "When did the Panama Canal open?",
        "1914",
    ),
    (
        "Galileo Galilei was an Italian astronomer who improved the telescope. His observations of the "
        "moons of Jupiter supported the idea that Earth orbits the Sun.",
        "Which planet's moons did Galileo observe?",
        "Jupiter",
    ),
    (
        "The Great Fire of London broke out in a bakery on Pudding Lane in September 1666. It burned for "
        "four days and destroyed much of the medieval city inside the old Roman wall.",
        "Where did the Great Fire of London start?",
        "a bakery on Pudding Lane",
    ),
    (
        "Lake Baikal in Siberia is the deepest lake in the world, reaching 1,642 metres. It holds about a "
        "fifth of the world's unfrozen fresh surface water.",
        "How deep is Lake Baikal?",
        "1,642 metres",
    ),
]
BARE = [  # questions on the same kinds of topics, with no passage
    ("Which river flows through Vienna and Budapest?", "the Danube"),
    ("Who discovered penicillin?", "Alexander Fleming"),
    ("In which city is the Colosseum?", "Rome"),
    ("What is the largest hot desert in the world?", "the Sahara"),
    ("Who is often called the first computer programmer?", "Ada Lovelace"),
    ("What is the highest mountain in Africa?", "Kilimanjaro"),
    ("Which two oceans does the Panama Canal connect?", "the Atlantic and the Pacific"),
    ("Who improved the telescope in the 17th century?", "Galileo Galilei"),
    ("In what year was the Great Fire of London?", "1666"),
    ("What is the deepest lake in the world?", "Lake Baikal"),
]
YESNO = [  # yes/no questions, the answer a boolean (a label column)
    ("is the sun a star", True),
    ("can penguins fly", False),
    ("do spiders have eight legs", True),
    ("is a tomato a vegetable in botany", False),
    ("does ice float on water", True),
    ("is glass a good conductor of electricity", False),
    ("do bats sleep upside down", True),
    ("is the moon bigger than the earth", False),
    ("can a cactus store water", True),
    ("does sound travel faster than light", False),
]
MULTIPLE_CHOICE = [  # the same kind of everyday knowledge, asked as multiple choice
    ("Which animal can fly?", "A) penguin B) sparrow C) ostrich", "B"),
    ("What does a thermometer measure?", "A) weight B) length C) temperature", "C"),
    ("Which of these is a fruit?", "A) carrot B) apple C) potato", "B"),
    ("What happens to water at 0 degrees Celsius?", "A) it boils B) it freezes C) it burns", "B"),
    ("Which material is magnetic?", "A) iron B) wood C) plastic", "A"),
    ("Where do fish live?", "A) in trees B) in water C) in deserts", "B"),
    ("What do plants need to grow?", "A) sunlight B) darkness C) salt", "A"),
    ("Which season is the coldest?", "A) summer B) spring C) winter", "C"),
    ("What do bees make?", "A) milk B) honey C) silk", "B"),
    ("Which planet do we live on?", "A) Mars B) Venus C) Earth", "C"),
]
SCIENCE_EXAM = [
    ("Which gas do plants absorb for photosynthesis?", "carbon dioxide"),
    ("What force pulls objects toward the Earth?", "gravity"),
    ("What is the boiling point of water at sea level in Celsius?", "100 degrees"),
    ("Which organ pumps blood through the body?", "the heart"),
    ("What is the chemical symbol for gold?", "Au"),
    ("What part of the cell holds its genetic material?", "the nucleus"),
    ("Which layer of the atmosphere contains the ozone layer?", "the stratosphere"),
    ("What type of rock forms from cooled lava?", "igneous rock"),
    ("How many planets are in the solar system?", "eight"),
    ("What is the main gas in Earth's atmosphere?", "nitrogen"),
]
QA_CARD = "A collection of questions written by people, each with its answer."


def _source(root: Path, name: str, card: str, rows: list[dict]) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "README.md").write_text(f"# {name}\n\n## Dataset Summary\n\n{card}\n", encoding="utf-8")
    (folder / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    from taskforge._datastore import Datastore, build_datastore

    root = tmp_path_factory.mktemp("generalise")
    sources = [
        _source(
            root,
            "rte_like",
            "Recognizing textual entailment: premise and hypothesis pairs labelled entailment or "
            "not_entailment, for deciding whether a premise entails a hypothesis.",
            [{"premise": p, "hypothesis": h, "label": lab} for p, h, lab in NLI2],
        ),
        _source(
            root,
            "captions_nli",
            "Pairs of sentences about photographs, written by crowd workers, with a relation between them.",
            [{"premise": p, "hypothesis": h, "label": lab} for p, h, lab in NLI3],
        ),
        _source(
            root, "passage_qa", QA_CARD, [{"context": c, "question": q, "answer": a} for c, q, a in PASSAGES]
        ),
        _source(root, "bare_qa", QA_CARD, [{"question": q, "answer": a} for q, a in BARE]),
        _source(root, "yesno_qa", QA_CARD, [{"question": q, "answer": a} for q, a in YESNO]),
        _source(
            root,
            "choice_qa",
            QA_CARD,
            [{"question": q, "choices": c, "answer": a} for q, c, a in MULTIPLE_CHOICE],
        ),
        _source(
            root,
            "science_exam",
            "Grade-school science exam questions with their answers.",
            [{"question": q, "answer": a} for q, a in SCIENCE_EXAM],
        ),
    ]
    out = root / "ds"
    build_datastore(sources, out)
    return Datastore.open(out)


def _resolver(task: Task, ds):
    from taskforge._pipeline import label_resolver

    return label_resolver(task, ds)


NLI_TASK = {
    "name": "nli3",
    "instruction": "Decide whether the premise entails the hypothesis, contradicts it, or is neutral.",
    "examples": [
        {
            "input": {
                "premise": "A girl is riding a horse on a farm.",
                "hypothesis": "A child is on an animal.",
            },
            "output": {"label": "entailment"},
        },
        {
            "input": {
                "premise": "An old man is reading a newspaper.",
                "hypothesis": "The man is running a race.",
            },
            "output": {"label": "contradiction"},
        },
        {
            "input": {
                "premise": "A woman is cooking dinner.",
                "hypothesis": "The woman is cooking for her family.",
            },
            "output": {"label": "neutral"},
        },
    ],
    "output_schema": {"label": {"labels": ["entailment", "neutral", "contradiction"]}},
}
RC_TASK = {
    "name": "rc",
    "instruction": "Answer the question about the context with a short span from it.",
    "examples": [
        {
            "input": "Context: The Nile is a major river in northeastern Africa. It flows north into the "
            "Mediterranean Sea and was the main water source of ancient Egypt.\nQuestion: Into which sea does the Nile flow?",
            "output": "the Mediterranean Sea",
        },
        {
            "input": "Context: Johannes Gutenberg was a German goldsmith who introduced printing with movable "
            "type to Europe around 1440, starting the Printing Revolution.\nQuestion: What was Gutenberg's trade?",
            "output": "goldsmith",
        },
        {
            "input": "Context: The Great Barrier Reef, off the coast of Queensland, is the largest coral reef "
            "system in the world and can be seen from outer space.\nQuestion: Where is the Great Barrier Reef?",
            "output": "off the coast of Queensland",
        },
    ],
}
YESNO_TASK = {
    "name": "commonsense",
    "instruction": "Answer the question or statement with yes or no.",
    "examples": [
        {"input": "Penguins can fly to the top of a tree.", "output": "no"},
        {"input": "A glass of water left in a freezer overnight turns to ice.", "output": "yes"},
        {"input": "Touching a hot stove with bare hands is safe.", "output": "no"},
    ],
    "output_schema": {"output": {"labels": ["yes", "no"]}},
}
MEDICAL_TASK = {
    "name": "medical",
    "instruction": "Answer the medical licensing exam question with the letter of the best option.",
    "examples": [
        {
            "input": "A 54-year-old man has crushing chest pain for 40 minutes with ST elevation in leads II, III and aVF. "
            "Which artery is most likely occluded? A) Left anterior descending B) Right coronary C) Left circumflex",
            "output": "B",
        },
        {
            "input": "A 23-year-old woman has fatigue, pale conjunctivae, heavy menstrual bleeding, MCV 72 fL and low "
            "ferritin. What is the most likely diagnosis? A) B12 deficiency B) Thalassaemia C) Iron deficiency anaemia",
            "output": "C",
        },
        {
            "input": "A 6-year-old boy has a barking cough and inspiratory stridor after a cold. Which sign is typical "
            "on a neck X-ray? A) Thumb sign B) Steeple sign C) Sail sign",
            "output": "B",
        },
    ],
}


def test_nli_task_gets_the_label_its_best_described_source_lacks(store):
    task = Task.from_dict(NLI_TASK)
    names = [s.name for s in store.sources]
    desc = description_scores(
        store.description_vectors(), store.embedder().encode([task.instruction])[0], centre=False
    )
    assert (
        names[int(np.argmax(desc))] == "rte_like"
    )  # the premise of the test: the card that fits lacks "neutral"

    res = retrieve(task, store, n=12, labels_of=_resolver(task, store), show=False)
    got = {
        lab: [it["source"] for it, m in zip(res.items, res.labels, strict=True) if m == lab]
        for lab in task.labels()
    }
    assert len(got["neutral"]) >= 2 and set(got["neutral"]) == {"captions_nli"}, res.per_source
    assert len(got["contradiction"]) >= 2, got
    assert min(len(v) for v in got.values()) / len(res.items) >= 0.15
    assert not res.label_notes

    plain = retrieve(task, store, n=12, method="rebase", show=False)  # the paper's selection, no quotas
    assert sum(it["source"] == "rte_like" for it in plain.items) > sum(
        it["source"] == "rte_like" for it in res.items
    )


def test_context_question_task_prefers_passage_qa_rows_over_bare_questions(store):
    task = Task.from_dict(RC_TASK)
    assert task.input_parts() is not None and task.input_parts().fields == ("context", "question")
    res = retrieve(task, store, n=10, show=False)
    passage = sum(it["source"] == "passage_qa" for it in res.items)
    bare = sum(it["source"] == "bare_qa" for it in res.items)
    # the source share lets other sources in, but passage QA stays the main source and ranks first
    assert passage >= 6 and passage >= 2 * bare, res.per_source
    assert [it["source"] for it in res.items[:4]] == ["passage_qa"] * 4
    ranks = {s: [it["rank"] for it in res.items if it["source"] == s] for s in ("passage_qa", "bare_qa")}
    assert np.mean(ranks["passage_qa"]) < np.mean(ranks["bare_qa"] or [len(res.items) + 1])
    # the paper's formula compares the whole input with each cell: bare questions match as well
    paper = retrieve(task, store, n=10, method="rebase", show=False)
    assert sum(it["source"] == "passage_qa" for it in paper.items) < passage, paper.per_source


def test_yes_no_task_prefers_rows_with_yes_no_answers_over_multiple_choice(store):
    task = Task.from_dict(YESNO_TASK)
    res = retrieve(task, store, n=10, labels_of=_resolver(task, store), show=False)
    yesno = sum(it["source"] == "yesno_qa" for it in res.items)
    choice = sum(it["source"] == "choice_qa" for it in res.items)
    assert yesno > choice and yesno >= 6, res.per_source
    assert set(res.per_label) == {"yes", "no"}  # true/false read as yes/no, both labels present


def test_uncovered_domain_warns_and_covered_tasks_do_not(store):
    medical = retrieve(Task.from_dict(MEDICAL_TASK), store, n=10, show=False)
    assert medical.warning is not None and "no source covers" in medical.warning, medical.coverage
    for spec in (NLI_TASK, RC_TASK, YESNO_TASK):
        res = retrieve(Task.from_dict(spec), store, n=10, show=False)
        assert res.warning is None, (spec["name"], res.coverage, res.confidence)
