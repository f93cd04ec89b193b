"""The CPU expert's network: the MiniLM encoder, mean pooling and a cosine head started from the labels.

``AutoModelForSequenceClassification`` puts its head on BERT's [CLS] pooler, a layer the
sentence-transformers training of all-MiniLM-L6-v2 never used; with a few examples it starts
from noise. This head uses what the model *was* trained for: the mean-pooled, normalised
sentence embedding (as SetFit does), and a linear layer whose rows start as the embeddings of
the label names, scaled. Before any training the expert is therefore the zero-shot classifier
"which label name is the input most like", and training moves it from there. Pair inputs
(premise / hypothesis) are one two-segment sequence, so the encoder reads them jointly (a
cross-encoder), then the same pooling and head apply; or, with ``siamese`` (the default for
pairs), each side is embedded alone and the head compares the two embeddings.
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


def build_model(body_path: str, n_labels: int, *, siamese: bool = False) -> Any:
    """A fresh classifier over the encoder at ``body_path``: mean-pooled, or siamese for pairs."""
    from transformers import AutoModel

    cls = make_pair_class() if siamese else make_classifier_class()
    return cls(AutoModel.from_pretrained(body_path), n_labels)


def make_classifier_class() -> Any:
    """The torch module class (defined lazily so importing taskforge does not import torch)."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    import torch
    from transformers.modeling_outputs import SequenceClassifierOutput

    class MeanPoolClassifier(torch.nn.Module):
        def __init__(self, body: Any, n_labels: int) -> None:
            super().__init__()
            self.body = body
            self.head = torch.nn.Linear(body.config.hidden_size, n_labels)

        def embed(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            out = self.body(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            mask = attention_mask.unsqueeze(-1).to(out.last_hidden_state.dtype)
            pooled = (out.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled.float(), dim=-1)

        def features(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            """What the head reads: the normalised mean-pooled embedding."""
            return self.embed(input_ids, attention_mask, token_type_ids)

        def forward(self, labels: Any = None, **batch: Any) -> Any:
            return SequenceClassifierOutput(logits=self.head(self.features(**batch)))

        @torch.no_grad()
        def init_from_labels(self, tokenizer: Any, labels: Sequence[str]) -> None:
            """Head rows = scaled embeddings of the label names: the zero-shot classifier."""
            enc = tokenizer([label_prompt(lab) for lab in labels], padding=True, return_tensors="pt")
            self.head.weight.copy_(COSINE_SCALE * self.embed(**enc))
            self.head.bias.zero_()

        def save(self, path: Path) -> None:
            from safetensors.torch import save_file

            self.body.save_pretrained(path)
            save_file({k: v.contiguous() for k, v in self.head.state_dict().items()}, str(path / HEAD_FILE))

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


def load_model(path: Path, n_labels: int, *, siamese: bool = False) -> Any:
    """A saved classifier (body in transformers format + ``head.safetensors``)."""
    from safetensors.torch import load_file

    model = build_model(str(path), n_labels, siamese=siamese)
    model.head.load_state_dict(load_file(str(path / HEAD_FILE)))
    return model.eval()
