"""The CPU expert's network: the MiniLM encoder, mean pooling and a cosine head started from the labels.

``AutoModelForSequenceClassification`` puts its head on BERT's [CLS] pooler, a layer the
sentence-transformers training of all-MiniLM-L6-v2 never used; with a few examples it starts
from noise. This head uses what the model *was* trained for: the mean-pooled, normalised
sentence embedding (as SetFit does), and a linear layer whose rows start as the embeddings of
the label names, scaled. Before any training the expert is therefore the zero-shot classifier
"which label name is the input most like", and training moves it from there. Pair inputs
(premise / hypothesis) are one two-segment sequence, so the encoder reads them jointly (a
cross-encoder), then the same pooling and head apply.
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


def build_model(body_path: str, n_labels: int) -> Any:
    """A fresh :class:`MeanPoolClassifier` over the encoder at ``body_path``."""
    from transformers import AutoModel

    return make_classifier_class()(AutoModel.from_pretrained(body_path), n_labels)


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

        def forward(
            self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None, labels: Any = None
        ) -> Any:
            return SequenceClassifierOutput(
                logits=self.head(self.embed(input_ids, attention_mask, token_type_ids))
            )

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


def load_model(path: Path, n_labels: int) -> Any:
    """A saved :class:`MeanPoolClassifier` (body in transformers format + ``head.safetensors``)."""
    from safetensors.torch import load_file
    from transformers import AutoModel

    model = make_classifier_class()(AutoModel.from_pretrained(path), n_labels)
    model.head.load_state_dict(load_file(str(path / HEAD_FILE)))
    return model.eval()
