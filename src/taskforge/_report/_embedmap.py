"""The embedding map: embed examples, retrieved rows and kept samples, project to 2-D.

The embedder is any :class:`taskforge._embed.Encoder` (taskforge's ``Embedder``);
``None`` loads the default one. PCA (numpy SVD) is the default and always quick; t-SNE
(scikit-learn) is used for ``projection="tsne"``, or by ``"auto"`` for small maps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from taskforge._embed import Embedder, Encoder

TSNE_AUTO_MAX = 800  # "auto" uses t-SNE up to this many points, PCA above


@dataclass
class MapPoint:
    kind: str  # "example" | "retrieved" | "kept"
    label: str  # source or label, for colour within a kind and the legend
    text: str  # hover text


def default_embedder() -> Encoder:
    """taskforge's default Embedder (the bundled all-MiniLM-L6-v2, loaded offline)."""
    return Embedder.load(None)


def pca_2d(x: np.ndarray) -> np.ndarray:
    """First two principal components of the rows of ``x``."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 2:
        return np.zeros((len(x), 2))
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    out = x @ vt[:2].T
    if out.shape[1] < 2:
        out = np.hstack([out, np.zeros((len(out), 2 - out.shape[1]))])
    return out


def tsne_2d(x: np.ndarray, seed: int = 0) -> np.ndarray:
    from sklearn.manifold import TSNE

    n = len(x)
    perplexity = float(min(30, max(2, (n - 1) // 3)))
    init = pca_2d(x)
    init = init / (np.std(init[:, 0]) or 1.0) * 1e-4
    return TSNE(
        n_components=2, perplexity=perplexity, init=init, random_state=seed, metric="cosine"
    ).fit_transform(np.asarray(x, dtype=np.float32))


def project(vectors: np.ndarray, method: str = "auto") -> tuple[np.ndarray, str]:
    """2-D coordinates scaled to [0, 1] and the method used (``"pca"`` or ``"t-SNE"``)."""
    n = len(vectors)
    use_tsne = method == "tsne" or (method == "auto" and 10 <= n <= TSNE_AUTO_MAX)
    xy, used = (tsne_2d(vectors), "t-SNE") if use_tsne and n >= 5 else (pca_2d(vectors), "PCA")
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    return (xy - lo) / span, used


def build_map(
    points: list[tuple[MapPoint, str]],
    embedder: Encoder | None,
    *,
    projection: str = "auto",
    vectors: np.ndarray | None = None,
) -> dict[str, Any]:
    """Embed ``(point, text to embed)`` pairs (or use ``vectors``) and return the map's JSON data."""
    if not points:
        return {"points": [], "method": None, "error": "nothing to embed"}
    if vectors is None:
        enc = embedder if embedder is not None else default_embedder()
        vectors = np.asarray(enc.encode([t for _, t in points]), dtype=np.float32)
    if len(vectors) != len(points):
        raise ValueError(f"{len(vectors)} vectors for {len(points)} map points")
    xy, used = project(vectors, projection)
    return {
        "method": used,
        "points": [
            {"x": round(float(x), 4), "y": round(float(y), 4), "k": p.kind, "l": p.label, "t": p.text}
            for p, (x, y) in zip((p for p, _ in points), xy, strict=True)
        ],
    }
