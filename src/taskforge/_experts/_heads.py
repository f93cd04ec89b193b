"""The CPU expert's network: the MiniLM encoder, mean pooling and a cosine head started from the labels.

``AutoModelForSequenceClassification`` puts its head on BERT's [CLS] pooler, a layer the
sentence-transformers training of all-MiniLM-L6-v2 never used; with a few examples it starts
from noise. This head uses what the model *was* trained for: the mean-pooled, normalised
sentence embedding (as SetFit does), and a linear layer whose rows start as the embeddings of
the label names, scaled. Before any training the expert is therefore the zero-shot classifier
"which label name is the input most like", and training moves it from there. Pair inputs
(premise / hypothesis) are one two-segment sequence, so the encoder reads them jointly (a
cross-encoder), then the same pooling and head apply, and with ``pair_cosine`` the head also
reads the cosine of the two sides as the untrained encoder embeds them alone: what MiniLM was
trained to know about pairs (a threshold on it alone, set from 8 examples, scores 0.87 on SciTail
and 0.77 on QQP), which a cross-encoder fine-tuned on a handful of rows cannot relearn. Or, with
``siamese``, each side is embedded alone and the head compares the two embeddings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

HEAD_FILE = "head.safetensors"
COSINE_SCALE = 20.0  # logits = scale * cosine: a softmax that is confident but not saturated at the start


def label_prompt(label: str) -> str:
    """A label name as words: ``not_entailment`` -> ``not entailment``, ``visual-studio`` -> ``visual studio``."""
    return label.replace("_", " ").replace("-", " ").strip()


def build_model(body_path: str, n_labels: int, *, siamese: bool = False, pair_cosine: bool = False) -> Any:
    """A fresh classifier over the encoder at ``body_path``: mean-pooled (with the pair-cosine
    column when ``pair_cosine``), or siamese for pairs."""
    from transformers import AutoModel

    if siamese:
        return make_pair_class()(AutoModel.from_pretrained(body_path), n_labels)
    return make_classifier_class()(AutoModel.from_pretrained(body_path), n_labels, pair_cosine=pair_cosine)


def make_classifier_class() -> Any:
    """The torch module class (defined lazily so importing taskforge does not import torch)."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    import torch
    from transformers.modeling_outputs import SequenceClassifierOutput

    class MeanPoolClassifier(torch.nn.Module):
        def __init__(self, body: Any, n_labels: int, pair_cosine: bool = False) -> None:
            super().__init__()
            self.body = body
            self.pair_cosine = pair_cosine
            self.head = torch.nn.Linear(body.config.hidden_size + int(pair_cosine), n_labels)
            # the pair cosine's mean over the training rows: the column reads scale * (cos - centre)
            self.register_buffer("cosine_centre", torch.zeros(()))

        def embed(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            out = self.body(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            mask = attention_mask.unsqueeze(-1).to(out.last_hidden_state.dtype)
            pooled = (out.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled.float(), dim=-1)

        def features(
            self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None, pair_cosine: Any = None
        ) -> Any:
            """What the head reads: the normalised mean-pooled embedding (and the centred pair cosine)."""
            emb = self.embed(input_ids, attention_mask, token_type_ids)
            if not self.pair_cosine:
                return emb
            cos = COSINE_SCALE * (pair_cosine.float().unsqueeze(-1) - self.cosine_centre)
            return torch.cat([emb, cos], dim=-1)

        def forward(self, labels: Any = None, **batch: Any) -> Any:
            return SequenceClassifierOutput(logits=self.head(self.features(**batch)))

        @torch.no_grad()
        def init_from_labels(self, tokenizer: Any, labels: Sequence[str]) -> None:
            """Head rows = scaled embeddings of the label names: the zero-shot classifier."""
            enc = tokenizer([label_prompt(lab) for lab in labels], padding=True, return_tensors="pt")
            self.head.weight.zero_()  # the pair-cosine column starts at 0: label names say nothing of it
            self.head.weight[:, : self.body.config.hidden_size] = COSINE_SCALE * self.embed(**enc)
            self.head.bias.zero_()

        def save(self, path: Path) -> None:
            from safetensors.torch import save_file

            self.body.save_pretrained(path)
            state = {k: v.contiguous() for k, v in self.head.state_dict().items()}
            if self.pair_cosine:
                state["cosine_centre"] = self.cosine_centre.detach().clone()
            save_file(state, str(path / HEAD_FILE))

    _CLASS = MeanPoolClassifier
    return _CLASS


_CLASS: Any = None
_PAIR_CLASS: Any = None


def make_pair_class() -> Any:
    """The siamese pair classifier class (lazily defined, like :func:`make_classifier_class`).

    Each side of a pair (premise / hypothesis, question 1 / question 2) is embedded on its own
    by the same encoder, and the head reads ``(u, v, |u - v|, u * v, scale * cos(u, v))``:
    sentence-transformers' SoftmaxLoss features plus the cosine the encoder was trained for.
    A cross-encoder has to learn pair similarity from the data; this keeps what MiniLM knows
    (on SciTail the raw cosine alone ranks entailment at AUC 0.94).
    """
    global _PAIR_CLASS
    if _PAIR_CLASS is not None:
        return _PAIR_CLASS
    import torch

    base = make_classifier_class()

    class SiamesePairClassifier(base):  # type: ignore[misc, valid-type]
        def __init__(self, body: Any, n_labels: int) -> None:
            torch.nn.Module.__init__(self)
            self.body = body
            self.pair_cosine = False
            self.head = torch.nn.Linear(4 * body.config.hidden_size + 1, n_labels)

        def features(  # type: ignore[override]
            self,
            input_ids: Any,
            attention_mask: Any,
            b_input_ids: Any,
            b_attention_mask: Any,
            token_type_ids: Any = None,
            b_token_type_ids: Any = None,
        ) -> Any:
            """``(u, v, |u - v|, u * v, scale * cos(u, v))`` of the two sides."""
            u = self.embed(input_ids, attention_mask, token_type_ids)
            v = self.embed(b_input_ids, b_attention_mask, b_token_type_ids)
            cos = (u * v).sum(-1, keepdim=True)
            return torch.cat([u, v, (u - v).abs(), u * v, COSINE_SCALE * cos], dim=-1)

        @torch.no_grad()
        def init_from_labels(self, tokenizer: Any, labels: Sequence[str]) -> None:
            """A zero head: label names say nothing about how a pair relates, but the scaled cosine
            is by far the largest feature, so the first steps learn a threshold on it (what the
            encoder already knows) before the other features matter."""
            self.head.weight.zero_()
            self.head.bias.zero_()

    _PAIR_CLASS = SiamesePairClassifier
    return _PAIR_CLASS


def load_model(path: Path, n_labels: int, *, siamese: bool = False, pair_cosine: bool = False) -> Any:
    """A saved classifier (body in transformers format + ``head.safetensors``)."""
    from safetensors.torch import load_file

    model = build_model(str(path), n_labels, siamese=siamese, pair_cosine=pair_cosine)
    state = load_file(str(path / HEAD_FILE))
    if pair_cosine:
        model.cosine_centre.copy_(state.pop("cosine_centre"))
    model.head.load_state_dict(state)
    return model.eval()
