"""Retrieval quality: does each method find the right sources? A suite of tasks on the shared sources.

Each task has 3 examples (written here, not copied from any source), excludes its own
source, and lists the sources a careful person would call relevant: sources whose rows an LLM
could turn into a sample of the task with light effort. That is labelled data of the same task
or a direct recast of it (NLI for NLI; passage + question rows for reading comprehension), or,
for tasks that work on a kind of text, that text (news articles for news topics, long texts for
summarisation, everyday situations between people for dialogue writing). For each method the
script prints the share of the top N (default 1,000) that comes from relevant sources
("relevant-source precision"), per task, their mean and the worst task, side by side, plus
the confidence the low-confidence warning uses (two far tasks that no source covers).

The store it was tuned on: every shared source, at most 1,000 rows each (73 sources, 40,049
rows, 144,515 vectors; about 30 minutes on 2 cores):

    taskforge datastore build ../shared/datastore-sources/* --out /tmp/ds_all_1k --max-rows 1000
    python benchmarks/retrieval_quality.py --datastore /tmp/ds_all_1k [-n 1000] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("TASKFORGE_QUIET", "1")

from taskforge import Task


@dataclass
class SuiteTask:
    name: str
    kind: str
    instruction: str
    examples: list[dict[str, Any]]
    exclude: list[str]
    relevant: set[str] = field(default_factory=set)  # empty: a far task (nothing relevant exists)

    def task(self) -> Task:
        return Task.from_dict(
            {
                "name": self.name,
                "instruction": self.instruction,
                "examples": self.examples,
                "exclude_sources": self.exclude,
            }
        )


def _ex(inp: Any, out: Any) -> dict[str, Any]:
    return {"input": inp, "output": out}


SUITE: list[SuiteTask] = [
    SuiteTask(
        "nli",
        "NLI",
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
        {"snli_dev", "anli_test", "superglue_cb", "superglue_rte"},
    ),
    SuiteTask(
        "yesno_passage",
        "yes/no QA over a passage",
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
        {
            "strategyqa_full",
            "t0_qasc",
            "t0_wiki_qa",
            "t0_social_i_qa",
            "superglue_rte",
            "t0_glue_qqp",
            "t0_sciq",
            "t0_quartz",
            "t0_ropes",
            "t0_quoref",
            "t0_duorc",
            "t0_cosmos_qa",
            "t0_adversarial_qa",
        },
    ),
    SuiteTask(
        "yesno_commonsense",
        "yes/no commonsense",
        "Answer the commonsense question with yes or no.",
        [
            _ex("Can a penguin fly to the top of a tree?", "no"),
            _ex("Would a glass of water freeze in a typical home freezer overnight?", "yes"),
            _ex("Is it safe to touch a hot stove with bare hands?", "no"),
        ],
        ["strategyqa_full"],
        {
            "boolq",
            "t0_qasc",
            "t0_social_i_qa",
            "t0_wiki_qa",
            "truthfulqa",
            "piqa",
            "t0_quarel",
            "arc_challenge",
            "openbookqa",
            "t0_sciq",
            "winogrande",
            "hellaswag_val",
            "t0_cosmos_qa",
            "t0_quartz",
        },
    ),
    SuiteTask(
        "extractive_qa",
        "extractive QA",
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
        {
            "bbq",
            "t0_quoref",
            "t0_duorc",
            "t0_ropes",
            "t0_sciq",
            "t0_quartz",
            "t0_cosmos_qa",
            "t0_wiki_hop",
            "t0_kilt_tasks_hotpotqa",
            "nq_open",
            "boolq",
            "t0_dream",
            "fetaqa",
            "t0_wiki_bio",
            "t0_wiki_qa",  # a question with a Wikipedia sentence that may hold the answer
        },
    ),
    SuiteTask(
        "math",
        "math word problems",
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
        "topic",
        "topic classification",
        "Classify the news article into one of: World, Sports, Business, Sci/Tech.",
        [
            _ex(
                "Stocks fell sharply on Tuesday as investors worried about rising interest rates and weak earnings.",
                "Business",
            ),
            _ex("The home team scored twice in the final minutes to win the championship game.", "Sports"),
            _ex("Researchers unveiled a new chip that doubles battery life in smartphones.", "Sci/Tech"),
        ],
        ["ag_news_test"],
        {  # labelled topic data, and news articles (an LLM labels an article's topic easily)
            "t0_ag_news",
            "t0_dbpedia_14",
            "t0_trec",
            "stackoverflow_titles",
            "cnn_dailymail_sample",
            "t0_cnn_dailymail",
            "xsum_sample",
            "t0_xsum",
            "t0_multi_news",
            "t0_gigaword",
        },
    ),
    SuiteTask(
        "summarisation",
        "summarisation",
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
        {
            "cnn_dailymail_sample",
            "xsum_sample",
            "t0_cnn_dailymail",
            "t0_xsum",
            "t0_samsum",
            "t0_multi_news",
            "t0_gigaword",
        },
    ),
    SuiteTask(
        "sentiment",
        "sentiment classification",
        "Is the sentiment of this review positive or negative?",
        [
            _ex("The battery died after two days and support never answered my emails.", "negative"),
            _ex("A warm, funny film with a wonderful cast. I loved every minute.", "positive"),
            _ex("Great value for the price, works exactly as described.", "positive"),
        ],
        ["sst5_dev"],
        {
            "t0_imdb",
            "t0_rotten_tomatoes",
            "t0_yelp_review_full",
            "t0_amazon_polarity",
            "customer_reviews_cr",
            "t0_app_reviews",
        },
    ),
    SuiteTask(
        "dialogue_generation",
        "generation",
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
        {  # dialogues, and everyday situations between people (the task's input)
            "t0_samsum",
            "hh_rlhf_harmless_test",
            "t0_social_i_qa",
            "t0_cosmos_qa",
            "clutrr",
        },
    ),
    # far tasks: nothing in the shared sources covers them; used to calibrate the warning
    SuiteTask(
        "far_chess",
        "far: chess openings",
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


def precision(items: list[dict[str, Any]], relevant: set[str]) -> float:
    return sum(it["source"] in relevant for it in items) / max(1, len(items))


def register_ablations() -> None:
    """Variants shown next to the shipped methods (registered for this script only)."""
    from functools import partial

    from taskforge._retrieval import METHODS, rebase_plus

    # the previous default: raw description cosines, answer 0.5, dataset 1.5
    METHODS.setdefault("rebase_weighted", partial(rebase_plus, w_answer=0.5, w_dataset=1.5))
    # the paper's equal weights with centred descriptions: what centring alone does
    METHODS.setdefault("rebase_centred", partial(rebase_plus, centre_descriptions=True))


def main() -> None:
    from taskforge import Datastore, retrieve
    from taskforge._console import console, summary_table

    register_ablations()

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datastore", required=True)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--methods", default="rebase,rebase_centred,rebase_weighted,rebase_tuned,craft,mean")
    ap.add_argument("--tasks", default="", help="comma-separated task names (default: all)")
    ap.add_argument("--show-sources", action="store_true", help="print each run's top sources")
    ap.add_argument("--markdown", action="store_true", help="also print the precision table as markdown")
    args = ap.parse_args()
    ds = Datastore.open(args.datastore)
    methods = [m for m in args.methods.split(",") if m]
    names = {s.name for s in ds.sources}
    tasks = [t for t in SUITE if not args.tasks or t.name in args.tasks.split(",")]

    table_rows, best_rows, totals = [], [], {m: [] for m in methods}
    for st in tasks:
        rel = st.relevant & names
        row: list[Any] = [st.name]
        best: list[Any] = [st.name]
        for m in methods:
            t0 = time.perf_counter()
            res = retrieve(st.task(), ds, n=args.n, method=m, show=False)
            p = precision(res.items, rel) if rel else float("nan")
            if rel:
                totals[m].append(p)
            row.append(p)
            best.append(res.confidence)
            if args.show_sources:
                top = ", ".join(f"{s} {c}" for s, c in list(res.per_source.items())[:6])
                console.print(f"{st.name:20s} {m:14s} p={p:.2f} {time.perf_counter() - t0:5.1f}s  {top}")
            if res.warning:
                best[-1] = f"{best[-1]:.3f} warned"
        table_rows.append(row)
        best_rows.append(best)
    table_rows.append(["mean", *[sum(v) / max(1, len(v)) for v in totals.values()]])
    table_rows.append(["min", *[min(v) if v else float("nan") for v in totals.values()]])
    console.print(
        summary_table(f"Relevant-source precision of the top {args.n}", ["task", *methods], table_rows)
    )
    console.print(
        summary_table(
            "Confidence: best instruction-description cosine (warning)", ["task", *methods], best_rows
        )
    )
    if args.markdown:
        print(markdown_table(["task", *methods], table_rows, {t.name: t.kind for t in tasks}))


def markdown_table(header: list[str], rows: list[list[Any]], kinds: dict[str, str]) -> str:
    """The precision table as markdown (tasks by their kind), for the README."""

    def cell(v: Any) -> str:
        return f"{v:.2f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if row[0] in kinds and kinds[row[0]].startswith("far:"):
            continue
        lines.append(
            "| " + " | ".join([kinds.get(row[0], f"**{row[0]}**")] + [cell(v) for v in row[1:]]) + " |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
