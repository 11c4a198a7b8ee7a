"""Quality metrics: word-similarity Spearman, analogy accuracy (3CosAdd), time-to-target."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from mt2st.data.lexical import AnalogySet, SimilaritySet


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def similarity_spearman(words_index, vectors: np.ndarray, pairs: SimilaritySet) -> tuple[float, int]:
    """Spearman correlation between cosine similarity and human scores over the pairs whose
    two words are both known (``words_index(word) -> row or -1``); returns (rho, pairs used)."""
    i1 = np.array([words_index(w) for w in pairs.word1], dtype=np.int64)
    i2 = np.array([words_index(w) for w in pairs.word2], dtype=np.int64)
    ok = (i1 >= 0) & (i2 >= 0)
    return spearman_of_rows(vectors, i1[ok], i2[ok], pairs.scores[ok]), int(ok.sum())


def spearman_of_rows(vectors: np.ndarray, i1: np.ndarray, i2: np.ndarray, scores: np.ndarray) -> float:
    """Spearman between the cosines of rows i1 and i2 and ``scores`` (nan below 3 pairs)."""
    if len(i1) < 3:
        return float("nan")
    a, b = _unit(vectors[i1].astype(np.float64)), _unit(vectors[i2].astype(np.float64))
    return float(spearmanr(np.einsum("ij,ij->i", a, b), scores).statistic)


def analogy_accuracy(words_index, vectors: np.ndarray, analogy: AnalogySet,
                     restrict: int | None = 30000, batch: int = 2048) -> dict[str, float]:
    """3CosAdd accuracy (b - a + c, nearest unit vector other than a, b, c) over the questions
    whose four words are among the first ``restrict`` rows; semantic, syntactic and overall."""
    limit = vectors.shape[0] if restrict is None else min(restrict, vectors.shape[0])
    idx = np.array([[words_index(w) for w in q] for q in analogy.questions], dtype=np.int64)
    idx = idx.reshape(-1, 4)
    ok = ((idx >= 0) & (idx < limit)).all(axis=1)
    return analogy_of_rows(_unit(vectors[:limit].astype(np.float32)), idx[ok],
                           analogy.semantic[ok], batch)


def analogy_of_rows(unit: np.ndarray, idx: np.ndarray, semantic: np.ndarray,
                    batch: int = 2048) -> dict[str, float]:
    """3CosAdd accuracy for question rows ``idx`` (n × 4) over the unit-vector table."""
    correct = np.zeros(len(idx), dtype=bool)
    for s in range(0, len(idx), batch):
        q = idx[s:s + batch]
        target = unit[q[:, 1]] - unit[q[:, 0]] + unit[q[:, 2]]
        scores = target @ unit.T
        rows = np.arange(len(q))
        for col in range(3):
            scores[rows, q[:, col]] = -np.inf
        correct[s:s + batch] = scores.argmax(axis=1) == q[:, 3]

    def acc(mask):
        return float(correct[mask].mean()) if mask.any() else float("nan")
    return {"semantic": acc(semantic), "syntactic": acc(~semantic),
            "overall": acc(np.ones(len(idx), bool)), "questions": int(len(idx))}


def embedding_quality(words_index, vectors: np.ndarray, similarity_sets: dict[str, SimilaritySet],
                      analogy: AnalogySet | None = None) -> dict[str, float]:
    """Spearman per similarity set, their mean (``similarity_mean``), and analogy accuracy (%)."""
    out: dict[str, float] = {}
    for name, pairs in similarity_sets.items():
        out[name] = similarity_spearman(words_index, vectors, pairs)[0]
    values = [v for v in out.values() if np.isfinite(v)]
    out["similarity_mean"] = float(np.mean(values)) if values else float("nan")
    if analogy is not None:
        acc = analogy_accuracy(words_index, vectors, analogy)
        out.update({f"analogy_{k}_pct": 100 * acc[k] for k in ("semantic", "syntactic", "overall")})
    return out


def time_to_target(val_acc, train_seconds, target: float,
                   trained=None) -> tuple[float, int | None]:
    """Training seconds at the first evaluation whose validation accuracy >= target, and that
    evaluation's 0-based row index; (inf, None) when the target is never reached (a miss).
    ``trained`` (booleans) leaves out evaluations made before any training step."""
    acc = np.asarray(val_acc, dtype=float)
    secs = np.asarray(train_seconds, dtype=float)
    if len(acc) != len(secs):
        raise ValueError(f"{len(acc)} accuracies but {len(secs)} times")
    ok = np.isfinite(acc) & (acc >= target)
    if trained is not None:
        ok &= np.asarray(trained, dtype=bool)
    hits = np.flatnonzero(ok)
    if not len(hits):
        return float("inf"), None
    return float(secs[hits[0]]), int(hits[0])


#: stands in for a miss (inf) inside quantiles, so that no inf arithmetic happens
_MISS = 1e300


def quantile(values, q: float) -> float:
    """Quantile that treats inf (misses) as larger than everything, without inf arithmetic."""
    x = np.where(np.isinf(values), _MISS, np.asarray(values, dtype=float))
    if not len(x):
        return np.nan
    v = float(np.quantile(x, q))
    return np.inf if v >= _MISS / 10 else v


def olympic_mean(values) -> float:
    """MLPerf style: drop the fastest and the slowest, average the rest (inf if a miss stays)."""
    x = np.sort(np.asarray(values, dtype=float))
    if len(x) >= 3:
        x = x[1:-1]
    return float(np.mean(x)) if np.isfinite(x).all() else np.inf
