"""Quality metrics: word-similarity Spearman, analogy accuracy (3CosAdd), time-to-target."""

from __future__ import annotations

import numpy as np

from mt2st.data.lexical import AnalogySet, SimilaritySet

#: questions scored per matrix product in the 3CosAdd search
ANALOGY_BATCH = 2048


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


def spearman_of_rows(vectors: np.ndarray, i1: np.ndarray, i2: np.ndarray, scores: np.ndarray,
                     ranked: RankedScores | None = None) -> float:
    """Spearman between the cosines of rows i1 and i2 and ``scores`` (nan below 3 pairs);
    ``ranked``: the same scores ranked once (an evaluation loop asks again and again)."""
    if len(i1) < 3:
        return float("nan")
    a, b = _unit(vectors[i1].astype(np.float64)), _unit(vectors[i2].astype(np.float64))
    return (ranked or RankedScores(scores))(np.einsum("ij,ij->i", a, b))


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank: ``scipy.stats.rankdata(x)`` (its "average"
    method; every rank is a whole or half number, so equal bit for bit) at a tenth of its call
    overhead on the short arrays of the similarity sets."""
    x = np.asarray(x)
    sorter = np.argsort(x, kind="mergesort")
    inverse = np.empty(sorter.size, dtype=np.intp)
    inverse[sorter] = np.arange(sorter.size, dtype=np.intp)
    ordered = x[sorter]
    first = np.empty(len(ordered), dtype=bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    dense = first.cumsum()[inverse]
    bounds = np.append(np.flatnonzero(first), len(first))
    return 0.5 * (bounds[dense] + bounds[dense - 1] + 1)


class RankedScores:
    """Spearman's ρ of samples against fixed ``scores``, whose ranks are computed once:
    ``scipy.stats.spearmanr(x, scores).statistic`` bit for bit (the same average ranks, the same
    ``np.corrcoef``; NaN for a constant or NaN-holding input, as spearmanr gives), without the
    p-value spearmanr also computes and scipy's array-API dispatch (about 0.6 ms a call, 8 ms of
    each evaluation over 13 held-out similarity sets, against about 0.1 ms here)."""

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = np.asarray(scores, dtype=np.float64)
        self.ranks = average_ranks(self.scores)
        self.undefined = (len(self.scores) <= 1 or bool((self.scores[0] == self.scores).all())
                          or bool(np.isnan(self.scores).any()))

    def __call__(self, x: np.ndarray) -> float:
        x = np.asarray(x, dtype=np.float64)
        if len(x) != len(self.scores):
            raise ValueError(f"{len(x)} samples against {len(self.scores)} scores")
        if self.undefined or bool((x[0] == x).all()) or bool(np.isnan(x).any()):
            return float("nan")
        ranks = np.column_stack((average_ranks(x), self.ranks))
        return float(np.corrcoef(ranks, rowvar=False)[1, 0])


def analogy_accuracy(words_index, vectors: np.ndarray, analogy: AnalogySet,
                     restrict: int | None = 30000, batch: int = ANALOGY_BATCH) -> dict[str, float]:
    """3CosAdd accuracy (b - a + c, nearest unit vector other than a, b, c) over the questions
    whose four words are among the first ``restrict`` rows; semantic, syntactic and overall."""
    limit = vectors.shape[0] if restrict is None else min(restrict, vectors.shape[0])
    idx = np.array([[words_index(w) for w in q] for q in analogy.questions], dtype=np.int64)
    idx = idx.reshape(-1, 4)
    ok = ((idx >= 0) & (idx < limit)).all(axis=1)
    return analogy_of_rows(_unit(vectors[:limit].astype(np.float32)), idx[ok],
                           analogy.semantic[ok], batch)


def analogy_of_rows(unit: np.ndarray, idx: np.ndarray, semantic: np.ndarray,
                    batch: int = ANALOGY_BATCH, scratch: np.ndarray | None = None) -> dict[str, float]:
    """3CosAdd accuracy for question rows ``idx`` (n × 4) over the unit-vector table.
    ``scratch`` (at least min(n, batch) × V, the table's dtype) receives the scores: a fresh
    37 MB array per call (636 questions × 14.7k words) is a fresh mmap whose page faults cost
    about 4 ms of each 30-ms evaluation; the same BLAS call either way, so the same numbers."""
    correct = np.zeros(len(idx), dtype=bool)
    for s in range(0, len(idx), batch):
        q = idx[s:s + batch]
        target = unit[q[:, 1]] - unit[q[:, 0]] + unit[q[:, 2]]
        if scratch is None:
            scores = target @ unit.T
        else:
            scores = np.matmul(target, unit.T, out=scratch[:len(q)])
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
