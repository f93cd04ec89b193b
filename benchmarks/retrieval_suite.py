"""The retrieval quality suite: 18 tasks over the shared sources, two fixed halves, plus far tasks.

Every task is written here (instruction and 3 examples, none copied from a source) and excludes
**every copy** of its target data in the shared sources, not just the folder of that name: AG News
is both ``ag_news_test`` and ``t0_ag_news``; SST's sentences are Rotten Tomatoes snippets
(``t0_rotten_tomatoes``); AGIEval's first file is AQuA-RAT; CNN/DailyMail and XSum appear twice.

Relevance (the written criterion, applied to every task): a source is relevant when an LLM could
turn its rows into samples of the task with light effort. That is labelled data of the same task
or a direct recast of it (NLI pairs for NLI; a passage with a question about it for reading
comprehension; yes/no questions for a yes/no task), or, for tasks that work on a kind of text,
that text (news articles for news topics, long texts for summarisation, everyday situations
between people for dialogue writing). Data that only shares a surface (multiple-choice exam
questions for a yes/no commonsense task; social-bias probes for commonsense) is not relevant.

Label coverage (classification tasks): each row's *own* label, read from the source's label
column and mapped onto the task's labels by the hand-written tables below (``label_sources``),
independently of the mapper the retrieval uses. A label's share counts rows from relevant sources.

Halves: A and B are fixed up front and balanced by shape (classification / question answering /
generation / far). Weights and thresholds are chosen on one half and reported on the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from taskforge._task import Task

EOT = "<|endoftext|>"


@dataclass
class SuiteTask:
    name: str
    kind: str  # what the README calls it
    shape: str  # classification | qa | generation | far
    half: str  # "A" | "B"
    instruction: str
    examples: list[dict[str, Any]]
    exclude: list[str]  # the target and every copy of it
    relevant: set[str] = field(default_factory=set)  # empty: a far task (no source covers it)
    labels: list[str] | None = None  # classification: the task's labels (output_schema)
    label_sources: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    # source -> (column, {raw value (case-folded, EOT stripped): task label})

    def task(self) -> Task:
        spec: dict[str, Any] = {
            "name": self.name,
            "instruction": self.instruction,
            "examples": self.examples,
            "exclude_sources": self.exclude,
        }
        if self.labels:
            out = self.examples[0]["output"]
            name = next(iter(out)) if isinstance(out, dict) else "output"
            spec["output_schema"] = {name: {"labels": self.labels}}
        return Task.from_dict(spec)

    def row_label(self, item: dict[str, Any]) -> str | None:
        """The item's own label mapped onto the task's labels (hand tables), or None."""
        how = self.label_sources.get(item["source"])
        if how is None:
            return None
        column, table = how
        raw = (item.get("row") or {}).get(column)
        if raw is None:
            return None
        key = str(raw).replace(EOT, "").strip().casefold()
        return table.get(key)


def _ex(inp: Any, out: Any) -> dict[str, Any]:
    return {"input": inp, "output": out}


def _same(*labels: str) -> dict[str, str]:
    return {lab.casefold(): lab for lab in labels}


_NLI_SOURCES = {"snli_dev", "anli_test", "superglue_cb", "superglue_rte", "scitail_test"}
_NEWS_TEXT = {
    "cnn_dailymail_sample",
    "t0_cnn_dailymail",
    "xsum_sample",
    "t0_xsum",
    "t0_multi_news",
    "t0_gigaword",
}
_PASSAGE_QA = {  # a passage (or table, dialogue, bio) with a question answerable from it
    "t0_adversarial_qa",
    "t0_quoref",
    "t0_duorc",
    "t0_ropes",
    "t0_sciq",
    "t0_quartz",
    "t0_cosmos_qa",
    "t0_wiki_hop",
    "boolq",
    "bbq",
    "t0_dream",
    "fetaqa",
    "t0_wiki_bio",
    "t0_wiki_qa",
}
_YESNO = {"boolq", "strategyqa_full", "t0_qasc", "t0_wiki_qa", "t0_social_i_qa", "t0_wiqa"}
_YN = {"yes": "yes", "no": "no", "true": "yes", "false": "no"}
_YESNO_LABELS = {s: ("completion", _YN) for s in ("t0_qasc", "t0_wiki_qa", "t0_social_i_qa", "t0_wiqa")}
_YESNO_LABELS |= {"boolq": ("answer", _YN), "strategyqa_full": ("answer", _YN)}
_REVIEWS = {
    "t0_imdb",
    "t0_yelp_review_full",
    "t0_amazon_polarity",
    "customer_reviews_cr",
    "t0_app_reviews",
    "sst5_dev",
    "t0_rotten_tomatoes",
}
_POLARITY = {
    "t0_imdb": ("completion", _same("positive", "negative")),
    "t0_rotten_tomatoes": ("completion", _same("positive", "negative")),
    "t0_amazon_polarity": ("completion", {"yes": "positive", "no": "negative"}),
    "customer_reviews_cr": ("label", {"0": "negative", "1": "positive"}),
    "t0_yelp_review_full": (
        "completion",
        {"1 star": "negative", "2 stars": "negative", "4 stars": "positive", "5 stars": "positive"},
    ),
    "t0_app_reviews": (
        "completion",
        {"not at all": "negative", "no": "negative", "yes": "positive", "definitely": "positive"},
    ),
    "sst5_dev": (
        "col0",
        {
            "__label__1": "negative",
            "__label__2": "negative",
            "__label__4": "positive",
            "__label__5": "positive",
        },
    ),
}

SUITE: list[SuiteTask] = [
    # ---------------------------------------------------------------- classification
    SuiteTask(
        "nli3",
        "NLI, 3 labels",
        "classification",
        "A",
        "You are given a premise and a hypothesis. Decide whether the premise entails the hypothesis "
        "(it must be true), contradicts it (it cannot be true), or is neutral (it might be true).",
        [
            _ex(
                {
                    "premise": "A man in a red jacket is climbing a rock wall.",
                    "hypothesis": "A person is climbing.",
                },
                {"label": "entailment"},
            ),
            _ex(
                {
                    "premise": "Two children are playing chess in a park.",
                    "hypothesis": "The children are asleep in bed.",
                },
                {"label": "contradiction"},
            ),
            _ex(
                {
                    "premise": "A woman is reading a book on a train.",
                    "hypothesis": "The woman is going to work.",
                },
                {"label": "neutral"},
            ),
        ],
        ["snli_dev"],
        _NLI_SOURCES - {"snli_dev"},
        labels=["entailment", "neutral", "contradiction"],
        label_sources={
            "anli_test": ("label", _same("entailment", "neutral", "contradiction")),
            "superglue_cb": ("label", _same("entailment", "neutral", "contradiction")),
            "superglue_rte": ("label", _same("entailment")),
            "scitail_test": ("label", _same("entailment")),
        },
    ),
    SuiteTask(
        "nli2",
        "NLI, 2 labels",
        "classification",
        "B",
        "Given a premise and a hypothesis, decide whether the premise entails the hypothesis.",
        [
            _ex(
                {
                    "premise": "Lungs are the organs where oxygen enters the blood.",
                    "hypothesis": "Oxygen enters the blood in the lungs.",
                },
                {"label": "entailment"},
            ),
            _ex(
                {
                    "premise": "A wetland is land saturated with water, like a marsh.",
                    "hypothesis": "Deserts get little rain each year.",
                },
                {"label": "not_entailment"},
            ),
            _ex(
                {
                    "premise": "Pure water has a pH of 7, which is neutral.",
                    "hypothesis": "A solution with pH 7 is neutral.",
                },
                {"label": "entailment"},
            ),
        ],
        ["scitail_test"],
        _NLI_SOURCES - {"scitail_test"},
        labels=["entailment", "not_entailment"],
        label_sources={
            s: (
                "label",
                {
                    "entailment": "entailment",
                    "neutral": "not_entailment",
                    "contradiction": "not_entailment",
                    "not_entailment": "not_entailment",
                },
            )
            for s in ("snli_dev", "anli_test", "superglue_cb", "superglue_rte")
        },
    ),
    SuiteTask(
        "sentiment",
        "sentiment, 2 labels",
        "classification",
        "B",
        "Sentiment: positive or negative?",
        [
            _ex("The battery died after two days and support never answered my emails.", "negative"),
            _ex("A warm, funny film with a wonderful cast. I loved every minute.", "positive"),
            _ex("Great value for the price, works exactly as described.", "positive"),
        ],
        ["sst5_dev", "t0_rotten_tomatoes"],  # SST's sentences are Rotten Tomatoes snippets
        _REVIEWS - {"sst5_dev", "t0_rotten_tomatoes"},
        labels=["positive", "negative"],
        label_sources={k: v for k, v in _POLARITY.items() if k not in ("sst5_dev", "t0_rotten_tomatoes")},
    ),
    SuiteTask(
        "topic",
        "news topic",
        "classification",
        "A",
        "Classify the news article into one of: World, Sports, Business, Sci/Tech.",
        [
            _ex(
                "Stocks fell sharply on Tuesday as investors worried about rising interest rates and weak earnings.",
                "Business",
            ),
            _ex("The home team scored twice in the final minutes to win the championship game.", "Sports"),
            _ex("Researchers unveiled a new chip that doubles battery life in smartphones.", "Sci/Tech"),
        ],
        ["ag_news_test", "t0_ag_news"],  # the same AG News data twice
        _NEWS_TEXT | {"t0_dbpedia_14"},  # news articles (an LLM labels their topic), labelled topics
        labels=["World", "Sports", "Business", "Sci/Tech"],
    ),
    SuiteTask(
        "question_type",
        "question type",
        "classification",
        "A",
        "What kind of answer does this question expect? Reply with one of: person, location, number, "
        "date, description, entity.",
        [
            _ex("Who painted the ceiling of the Sistine Chapel?", "person"),
            _ex("How many bones are in the adult human body?", "number"),
            _ex("Why do leaves change colour in autumn?", "description"),
        ],
        ["t0_trec"],
        {  # standalone natural questions (the text the task labels)
            "nq_open",
            "truthfulqa",
            "strategyqa_full",
            "boolq",
            "arc_challenge",
            "wikitablequestions",
            "t0_kilt_tasks_hotpotqa",
            "stackoverflow_titles",
            "fetaqa",
        },
        labels=["person", "location", "number", "date", "description", "entity"],
    ),
    SuiteTask(
        "paraphrase",
        "paraphrase, yes/no",
        "classification",
        "B",
        "Do the two sentences say the same thing in different words? Answer yes or no.",
        [
            _ex(
                {
                    "sentence1": "The company reported a sharp rise in profits this quarter.",
                    "sentence2": "Profits at the firm went up steeply in the latest quarter.",
                },
                {"answer": "yes"},
            ),
            _ex(
                {
                    "sentence1": "She moved from Berlin to Paris in 2010.",
                    "sentence2": "She moved from Paris to Berlin in 2010.",
                },
                {"answer": "no"},
            ),
            _ex(
                {
                    "sentence1": "The meeting was postponed because of the storm.",
                    "sentence2": "Because of the storm, the meeting was put off.",
                },
                {"answer": "yes"},
            ),
        ],
        ["t0_glue_mrpc"],
        {"t0_paws", "t0_glue_qqp"} | _NLI_SOURCES,  # sentence pairs with a relation label
        labels=["yes", "no"],
        label_sources={"t0_paws": ("completion", _YN), "t0_glue_qqp": ("completion", _YN)},
    ),
    SuiteTask(
        "yesno_commonsense",
        "yes/no commonsense",
        "classification",
        "A",
        "Answer the question or statement with yes or no.",
        [
            _ex("Penguins can fly to the top of a tree.", "no"),
            _ex("A glass of water left in a freezer overnight turns to ice.", "yes"),
            _ex("Touching a hot stove with bare hands is safe.", "no"),
        ],
        ["strategyqa_full"],
        _YESNO - {"strategyqa_full"}
        | {"piqa", "winogrande", "hellaswag_val", "t0_cosmos_qa", "t0_quarel", "t0_quartz", "truthfulqa"}
        | {"openbookqa"},  # commonsense questions, and one-line facts (yes/no claims as they stand)
        labels=["yes", "no"],
        label_sources={k: v for k, v in _YESNO_LABELS.items() if k != "strategyqa_full"},
    ),
    SuiteTask(
        "yesno_passage",
        "yes/no over a passage",
        "classification",
        "B",
        "Read the passage and answer the question with yes or no.",
        [
            _ex(
                {
                    "passage": "The Great Wall of China was built across the northern borders of ancient Chinese states to protect against nomadic groups.",
                    "question": "was the great wall built to keep out nomads",
                },
                {"answer": "yes"},
            ),
            _ex(
                {
                    "passage": "The platypus is a semiaquatic egg-laying mammal endemic to eastern Australia.",
                    "question": "does the platypus give birth to live young",
                },
                {"answer": "no"},
            ),
            _ex(
                {
                    "passage": "Mount Everest is Earth's highest mountain above sea level, in the Himalayas.",
                    "question": "is mount everest the highest mountain above sea level",
                },
                {"answer": "yes"},
            ),
        ],
        ["boolq"],
        (_YESNO | _PASSAGE_QA) - {"boolq"},
        labels=["yes", "no"],
        label_sources={k: v for k, v in _YESNO_LABELS.items() if k != "boolq"},
    ),
    # ---------------------------------------------------------------- question answering
    SuiteTask(
        "extractive_qa",
        "extractive QA, named fields",
        "qa",
        "A",
        "Answer the question with a span copied from the context.",
        [
            _ex(
                {
                    "context": "The Amazon River in South America is the largest river in the world by discharge volume. It flows through Peru, Colombia and Brazil before emptying into the Atlantic Ocean. Its basin covers about seven million square kilometres, most of it rainforest.",
                    "question": "Into which ocean does the Amazon River empty?",
                },
                "the Atlantic Ocean",
            ),
            _ex(
                {
                    "context": "Marie Curie was a Polish-born physicist and chemist who did pioneering research on radioactivity. She was the first woman to win a Nobel Prize, sharing the 1903 prize in physics with Pierre Curie and Henri Becquerel. In 1911 she won a second Nobel Prize, in chemistry.",
                    "question": "In what year did Marie Curie win her first Nobel Prize?",
                },
                "1903",
            ),
            _ex(
                {
                    "context": "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris. It is named after the engineer Gustave Eiffel, whose company designed and built it for the 1889 World's Fair. Artists first criticised its design, but it has become a cultural icon of France.",
                    "question": "Whose company designed and built the Eiffel Tower?",
                },
                "Gustave Eiffel",
            ),
        ],
        ["t0_adversarial_qa"],
        _PASSAGE_QA - {"t0_adversarial_qa"} | {"t0_kilt_tasks_hotpotqa", "nq_open"},
    ),
    SuiteTask(
        "reading_one_string",
        "reading comprehension, one string",
        "qa",
        "B",
        "Answer the question about the context with a short span from it.",
        [
            _ex(
                "Context: The Nile is a major north-flowing river in northeastern Africa. It flows into the "
                "Mediterranean Sea and has historically been the main water source for Egypt and Sudan. Its "
                "two main tributaries, the White Nile and the Blue Nile, meet near Khartoum.\n"
                "Question: Where do the White Nile and the Blue Nile meet?",
                "near Khartoum",
            ),
            _ex(
                "Context: Johannes Gutenberg was a German goldsmith who introduced printing with movable type "
                "to Europe around 1440. His printing press started the Printing Revolution, and the Gutenberg "
                "Bible was the first major book printed with it.\n"
                "Question: What was Gutenberg's trade?",
                "goldsmith",
            ),
            _ex(
                "Context: The Great Barrier Reef, off the coast of Queensland, is the world's largest coral reef "
                "system. It is made of almost 3,000 individual reefs and can be seen from outer space. Rising sea "
                "temperatures have caused mass coral bleaching in recent years.\n"
                "Question: What has caused mass coral bleaching?",
                "Rising sea temperatures",
            ),
        ],
        ["t0_quoref"],
        _PASSAGE_QA - {"t0_quoref"},
    ),
    SuiteTask(
        "open_qa",
        "open-domain QA, terse",
        "qa",
        "B",
        "Answer the question.",
        [
            _ex("who wrote the novel pride and prejudice", "Jane Austen"),
            _ex("what is the capital city of canada", "Ottawa"),
            _ex("when did the first man walk on the moon", "1969"),
        ],
        ["nq_open"],
        {  # questions with short factual answers
            "t0_kilt_tasks_hotpotqa",
            "truthfulqa",
            "wikitablequestions",
            "fetaqa",
            "t0_wiki_qa",
            "t0_wiki_hop",
            "boolq",
            "strategyqa_full",
            "t0_adversarial_qa",
            "t0_quoref",
            "t0_duorc",
            "arc_challenge",
            "t0_sciq",
        },
    ),
    SuiteTask(
        "science_mc",
        "science multiple choice",
        "qa",
        "A",
        "Choose the correct answer to the science question from the options and write it out.",
        [
            _ex(
                "Which gas do plants take in from the air to make their food? (A) oxygen (B) carbon dioxide "
                "(C) nitrogen (D) helium",
                "carbon dioxide",
            ),
            _ex(
                "What causes the seasons on Earth? (A) the distance to the Sun (B) the tilt of Earth's axis "
                "(C) the phases of the Moon (D) ocean currents",
                "the tilt of Earth's axis",
            ),
            _ex(
                "Which of these is a conductor of electricity? (A) rubber (B) wood (C) copper (D) glass",
                "copper",
            ),
        ],
        ["arc_challenge"],
        {  # science questions, any format (an LLM adds options), and science facts
            "openbookqa",
            "t0_sciq",
            "t0_qasc",
            "t0_quartz",
            "t0_ropes",
            "t0_wiqa",
            "scitail_test",
        },
    ),
    # ---------------------------------------------------------------- generation
    SuiteTask(
        "math",
        "math word problems",
        "generation",
        "A",
        "Solve the grade-school math word problem. Reason step by step, then give the final numeric answer.",
        [
            _ex(
                "Tom has 5 apples and buys 7 more. He gives 3 to his sister. How many apples does he have now?",
                "5 + 7 = 12 and 12 - 3 = 9. The answer is 9.",
            ),
            _ex(
                "A bakery sells muffins for $3 each. On Monday it sold 24 muffins. How much money did it make?",
                "24 * 3 = 72 dollars. The answer is 72.",
            ),
            _ex(
                "A train travels 60 miles per hour for 4 hours. How far does it travel?",
                "60 * 4 = 240 miles. The answer is 240.",
            ),
        ],
        ["gsm8k"],
        {"svamp", "asdiv", "addsub", "multiarith", "singleeq", "aqua_rat", "mathqa"},
    ),
    SuiteTask(
        "summarisation",
        "summarisation",
        "generation",
        "B",
        "Summarise the text in one or two sentences.",
        [
            _ex(
                "The city council met on Monday to discuss the new budget. After hours of debate, members voted to increase funding for public parks and reduce spending on road repairs, citing residents' feedback.",
                "The council voted to fund parks more and road repairs less.",
            ),
            _ex(
                "A new study of 2,000 adults found that people who walked at least 30 minutes a day reported better sleep and lower stress than those who did not exercise.",
                "Daily 30-minute walks are linked to better sleep and less stress.",
            ),
            _ex(
                "Heavy rain caused flooding across the region overnight, closing several roads and schools. Officials expect water levels to fall by the weekend.",
                "Overnight floods closed roads and schools; water should recede by the weekend.",
            ),
        ],
        ["scitldr"],
        _NEWS_TEXT | {"t0_samsum", "ag_news_test", "t0_ag_news"},
    ),
    SuiteTask(
        "headline",
        "headline writing",
        "generation",
        "A",
        "Write a short headline for the news story.",
        [
            _ex(
                "The national bank raised its main interest rate by half a percentage point on Thursday, its third increase this year, saying inflation was still too high.",
                "central bank raises rates again to fight inflation",
            ),
            _ex(
                "Firefighters battled a large blaze at a chemical plant outside the city overnight; two workers were taken to hospital with minor injuries.",
                "two hurt in chemical plant fire",
            ),
            _ex(
                "The veteran striker scored a hat-trick on Saturday as his club beat the league leaders 4-1 away from home.",
                "striker's hat-trick sinks league leaders",
            ),
        ],
        ["t0_gigaword"],
        (_NEWS_TEXT - {"t0_gigaword"}) | {"ag_news_test", "t0_ag_news"},  # news with titles/summaries
    ),
    SuiteTask(
        "dialogue",
        "dialogue writing",
        "generation",
        "B",
        "Write a short, natural conversation between two people about the given situation.",
        [
            _ex(
                "Two friends plan a weekend trip to the mountains.",
                "A: Want to go hiking this weekend?\nB: Sure, where?\nA: The mountains, we could leave Saturday morning.\nB: Great, I'll bring snacks.",
            ),
            _ex(
                "A customer asks a shop assistant about a jacket.",
                "A: Excuse me, do you have this jacket in blue?\nB: Yes, what size?\nA: Medium, please.\nB: Here you go, the fitting room is on the left.",
            ),
            _ex(
                "A student asks a teacher for more time on homework.",
                "A: Could I hand in the essay on Monday?\nB: Why do you need more time?\nA: I was ill this week.\nB: All right, Monday is fine.",
            ),
        ],
        ["t0_dream"],
        {"t0_samsum", "hh_rlhf_harmless_test", "t0_social_i_qa", "t0_cosmos_qa", "clutrr"},
    ),
    SuiteTask(
        "code",
        "Python functions",
        "generation",
        "B",
        "Write a Python function that does what the description says.",
        [
            _ex(
                "Return the number of vowels in a string.",
                "def count_vowels(s):\n    return sum(1 for c in s.lower() if c in 'aeiou')",
            ),
            _ex(
                "Return the largest element of a non-empty list of numbers.",
                "def largest(xs):\n    best = xs[0]\n    for x in xs[1:]:\n        if x > best:\n            best = x\n    return best",
            ),
            _ex(
                "Check whether a word reads the same forwards and backwards.",
                "def is_palindrome(word):\n    return word == word[::-1]",
            ),
        ],
        ["humaneval"],
        {"mbpp_sanitized"},
    ),
    SuiteTask(
        "commonsense_mc",
        "physical commonsense, two options",
        "qa",
        "A",
        "Pick the better way to reach the goal.",
        [
            _ex(
                {
                    "goal": "Keep a cut apple from turning brown.",
                    "option1": "Brush it with lemon juice.",
                    "option2": "Leave it in the sun.",
                },
                "Brush it with lemon juice.",
            ),
            _ex(
                {
                    "goal": "Open a jar with a stuck lid.",
                    "option1": "Run the lid under hot water.",
                    "option2": "Put the jar in the freezer.",
                },
                "Run the lid under hot water.",
            ),
            _ex(
                {
                    "goal": "Dry wet shoes quickly.",
                    "option1": "Stuff them with newspaper.",
                    "option2": "Fill them with water.",
                },
                "Stuff them with newspaper.",
            ),
        ],
        ["piqa"],
        {"winogrande", "hellaswag_val", "t0_quarel", "t0_social_i_qa", "t0_cosmos_qa", "t0_common_gen"},
    ),
    # ---------------------------------------------------------------- far: no source covers these
    SuiteTask(
        "far_medical",
        "far: medical exam",
        "far",
        "B",
        "Answer the medical licensing exam question with the letter of the best option.",
        [
            _ex(
                "A 54-year-old man has crushing chest pain radiating to the left arm for 40 minutes. ECG shows "
                "ST elevation in leads II, III and aVF. Which artery is most likely occluded? "
                "A) Left anterior descending B) Right coronary C) Left circumflex D) Left main",
                "B",
            ),
            _ex(
                "A 23-year-old woman has fatigue, pale conjunctivae and heavy menstrual bleeding. Her MCV is "
                "72 fL and ferritin is low. What is the most likely diagnosis? A) Vitamin B12 deficiency "
                "B) Thalassaemia minor C) Iron deficiency anaemia D) Anaemia of chronic disease",
                "C",
            ),
            _ex(
                "A 6-year-old boy has a barking cough, hoarse voice and inspiratory stridor after a cold. Which "
                "finding is typical on a neck X-ray? A) Thumb sign B) Steeple sign C) Sail sign D) Double bubble",
                "B",
            ),
        ],
        [],
    ),
    SuiteTask(
        "far_legal",
        "far: contract clauses",
        "far",
        "A",
        "Classify the contract clause by type: termination, indemnification, confidentiality, or governing law.",
        [
            _ex(
                "Either party may end this Agreement upon thirty (30) days' written notice to the other party.",
                "termination",
            ),
            _ex(
                "The Supplier shall hold harmless the Purchaser from any claims, losses or damages arising from "
                "the Supplier's negligence.",
                "indemnification",
            ),
            _ex(
                "This Agreement shall be construed in accordance with the laws of the State of Delaware.",
                "governing law",
            ),
        ],
        [],
    ),
    SuiteTask(
        "far_chess",
        "far: chess openings",
        "far",
        "A",
        "Name the chess opening from the first moves in algebraic notation.",
        [
            _ex("1. e4 e5 2. Nf3 Nc6 3. Bb5", "Ruy Lopez"),
            _ex("1. d4 d5 2. c4", "Queen's Gambit"),
            _ex("1. e4 c5", "Sicilian Defence"),
        ],
        [],
    ),
    SuiteTask(
        "far_protein",
        "far: protein sequences",
        "far",
        "B",
        "Predict the subcellular location of the protein from its amino-acid sequence.",
        [
            _ex(
                "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKALRPDEDRLSPLHSVYVDQWDWERVMGDGERQFSTLKSTVEAIWAGIKATEAAVSEEFGLAPFLPDQIHFVHSQELLSRYPDLDAKGRERAIAKDLGAVFLVGIGGKLSDGHRHDVRAPDYDDWSTPSELGHAGLNGDILVWNPVLEDAFELSSMGIRVDADTLKHALGSQLPLAV",
                "cytoplasm",
            ),
            _ex(
                "MALWMRLLPLLALLALWGPDPAAAFVNQHLCGSHLVEALYLVCGERGFFYTPKTRREAEDLQVGQVELGGGPGAGSLQPLALEGSLQKRGIVEQCCTSICSLYQLENYCN",
                "extracellular",
            ),
            _ex(
                "MSTNPKPQRKTKRNTNRRPQDVKFPGGGQIVGGVYLLPRRGPRLGVRATRKTSERSQPRGRRQPIPKARRPEGRTWAQPGYPWPLYGNEGCGWAGWLLSPRGSRPSWGPTDPRRRSRNLGKVIDTLTCGFADLMGYIPLVGAPLGGAARALAHGVRVLEDGVNYATGNLPGCSFSIFLLALLSCLTVPASA",
                "membrane",
            ),
        ],
        [],
    ),
]


def half(name: str) -> list[SuiteTask]:
    """The tasks of half "A" or "B" (or all for "all")."""
    return [t for t in SUITE if name == "all" or t.half == name]
