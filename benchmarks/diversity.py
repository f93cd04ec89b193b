"""ROUGE-L uniqueness (ReBase Table 3): naive rouge-score all-pairs vs taskforge's rapidfuzz path.

Prints, in one run:
  1. naive rouge-score on 1,000 samples (all 499,500 pairs with --full-naive; by default a fixed
     random subset of pairs, timed and extrapolated, because a loaded 2-core box needs minutes),
  2. taskforge's ``rouge_l_uniqueness`` on the same 1,000 samples, and the ratio,
  3. taskforge on 10,000 samples,
  4. a check that both agree (F1 on the timed pairs; unique flags on a 300-sample subset).

Samples are "real-ish": rows of ../shared/datastore-sources (all JSONL sources, each row's text
fields joined, capped at ~1,200 characters like a transformed sample) when present, else
the shipped demo/sources rows recombined with variation.

    python benchmarks/diversity.py [--n-small 1000] [--n-large 10000] [--pairs 20000] [--full-naive]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import time
from pathlib import Path

import numpy as np

from taskforge._quality import rouge_l_f1, rouge_l_uniqueness

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datastore-sources"
DEMO = ROOT / "demo" / "sources"


def _strings(v: object) -> list[str]:
    if isinstance(v, str):
        return [v]
    if isinstance(v, dict):
        return [s for x in v.values() for s in _strings(x)]
    if isinstance(v, list):
        return [s for x in v for s in _strings(x)]
    return []


def _rows(folder: Path, per_file: int) -> list[str]:
    texts = []
    for path in sorted(folder.rglob("*.jsonl")):
        with path.open(encoding="utf-8") as f:
            for line in itertools.islice(f, per_file):
                try:
                    text = "\n".join(_strings(json.loads(line))).strip()
                except json.JSONDecodeError:
                    continue
                if len(text.split()) >= 5:
                    texts.append(text[:1200])
    return texts


def build_texts(n: int, seed: int = 0) -> tuple[list[str], str]:
    rng = random.Random(seed)
    if SHARED.is_dir():
        pool = _rows(SHARED, per_file=400)
        origin = f"{SHARED} ({len(pool):,} rows)"
    else:
        pool = _rows(DEMO, per_file=400)
        origin = f"{DEMO} (demo rows recombined)"
    if len(pool) >= n:
        return rng.sample(pool, n), origin
    # not enough rows: vary them (swap in sentences of other rows) to reach n distinct samples
    out = list(pool)
    while len(out) < n:
        a, b = rng.choice(pool).split(". "), rng.choice(pool).split(". ")
        k = rng.randrange(len(a))
        out.append(". ".join(a[:k] + b[: rng.randint(1, len(b))]))
    rng.shuffle(out)
    return out[:n], origin


def naive_reference(texts: list[str], threshold: float) -> np.ndarray:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    toks = [scorer._tokenizer.tokenize(t) for t in texts]  # what scorer.score does per pair, done once
    best = np.zeros(len(texts))
    for i, j in itertools.combinations(range(len(texts)), 2):
        f = rouge_scorer._score_lcs(toks[i], toks[j]).fmeasure
        best[i], best[j] = max(best[i], f), max(best[j], f)
    return best < threshold


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-small", type=int, default=1000)
    ap.add_argument("--n-large", type=int, default=10_000)
    ap.add_argument("--pairs", type=int, default=20_000, help="random pairs timed for the naive estimate")
    ap.add_argument("--full-naive", action="store_true", help="run all naive pairs instead of extrapolating")
    ap.add_argument("--threshold", type=float, default=0.7)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    from rouge_score import rouge_scorer

    big, origin = build_texts(args.n_large)
    small = big[: args.n_small]
    n_pairs = args.n_small * (args.n_small - 1) // 2
    print(f"samples from {origin}; cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    print(f"mean tokens per sample: {np.mean([len(t.split()) for t in big]):.1f}")

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    if args.full_naive:
        t0 = time.perf_counter()
        for i, j in itertools.combinations(range(len(small)), 2):
            scorer.score(small[i], small[j])
        naive = time.perf_counter() - t0
        how = f"all {n_pairs:,} pairs"
    else:
        rng = random.Random(1)
        pairs = [tuple(rng.sample(range(len(small)), 2)) for _ in range(args.pairs)]
        t0 = time.perf_counter()
        ref = [scorer.score(small[i], small[j])["rougeL"].fmeasure for i, j in pairs]
        took = time.perf_counter() - t0
        naive = took / len(pairs) * n_pairs
        how = f"EXTRAPOLATED from {len(pairs):,} random pairs timed in {took:.1f}s ({took / len(pairs) * 1e6:.0f} us/pair)"
        worst = max(abs(rouge_l_f1(small[i], small[j]) - r) for (i, j), r in zip(pairs, ref, strict=True))
        print(f"F1 agreement on those pairs: max |taskforge - rouge-score| = {worst:.2e}")

    t0 = time.perf_counter()
    res_small = rouge_l_uniqueness(small, args.threshold, workers=args.workers)
    fast_small = time.perf_counter() - t0
    t0 = time.perf_counter()
    res_big = rouge_l_uniqueness(big, args.threshold, workers=args.workers)
    fast_big = time.perf_counter() - t0

    check = small[:300]
    agree = np.array_equal(
        naive_reference(check, args.threshold), rouge_l_uniqueness(check, args.threshold).unique
    )

    print()
    print(f"naive rouge-score, {args.n_small:,} samples: {naive:10.1f} s  ({how})")
    print(
        f"taskforge,         {args.n_small:,} samples: {fast_small:10.3f} s  "
        f"(unique share {res_small.unique_share:.3f}, {res_small.pairs_scored:,} pairs LCS-scored after the length and bag-of-tokens bounds)"
    )
    print(f"speed-up: {naive / fast_small:,.0f}x")
    print(
        f"taskforge,        {args.n_large:,} samples: {fast_big:10.2f} s  "
        f"(unique share {res_big.unique_share:.3f}, {res_big.pairs_scored:,} of "
        f"{args.n_large * (args.n_large - 1) // 2:,} pairs LCS-scored, workers={args.workers})"
    )
    print(f"unique flags identical to naive rouge-score on 300 samples: {agree}")


if __name__ == "__main__":
    main()
