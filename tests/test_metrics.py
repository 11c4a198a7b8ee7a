"""The evaluation's fast metrics equal the library results they replace, bit for bit: ranks
and Spearman's ρ against scipy, the 3CosAdd search with a reused scores buffer against a fresh
one and against a brute-force search."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import rankdata, spearmanr

from mt2st.metrics import RankedScores, analogy_of_rows, average_ranks, spearman_of_rows


@pytest.mark.parametrize("n", [0, 1, 2, 3, 8, 57, 937])
def test_average_ranks_equal_scipy_rankdata(n):
    rng = np.random.default_rng(n)
    for x in (rng.random(n), rng.integers(0, 4, n).astype(float), np.zeros(n),
              rng.integers(0, 3, n).astype(np.float32)):
        assert np.array_equal(average_ranks(x), rankdata(x))


@pytest.mark.parametrize("n", [3, 8, 42, 648])
def test_ranked_scores_equal_spearmanr_bit_for_bit(n):
    rng = np.random.default_rng(n)
    scores = np.round(rng.random(n) * 10, 1)  # human scores: many ties
    ranked = RankedScores(scores)
    for x in (rng.standard_normal(n), np.round(rng.standard_normal(n), 1)):
        assert ranked(x) == float(spearmanr(x, scores).statistic)


def test_ranked_scores_undefined_where_spearmanr_is():
    scores = np.array([1.0, 2.0, 3.0, 4.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for x, s in ((np.ones(4), scores), (scores, np.ones(4)),
                     (np.array([1.0, np.nan, 2.0, 3.0]), scores),
                     (scores, np.array([1.0, np.nan, 2.0, 3.0]))):
            assert np.isnan(float(spearmanr(x, s).statistic))
            assert np.isnan(RankedScores(s)(x))
    with pytest.raises(ValueError, match="3 samples against 4 scores"):
        RankedScores(scores)(scores[:3])


def test_spearman_of_rows_with_and_without_ranked_scores():
    rng = np.random.default_rng(1)
    table = rng.standard_normal((50, 6)).astype(np.float32)
    i1, i2 = rng.integers(0, 50, 30), rng.integers(0, 50, 30)
    scores = rng.integers(0, 5, 30).astype(float)
    a, b = (table[i].astype(np.float64) for i in (i1, i2))
    cos = np.einsum("ij,ij->i", a / np.linalg.norm(a, axis=1, keepdims=True),
                    b / np.linalg.norm(b, axis=1, keepdims=True))
    got = spearman_of_rows(table, i1, i2, scores, RankedScores(scores))
    assert got == spearman_of_rows(table, i1, i2, scores)
    assert got == pytest.approx(spearmanr(cos, scores).statistic, abs=1e-12)
    assert np.isnan(spearman_of_rows(table, i1[:2], i2[:2], scores[:2]))


def test_analogy_search_with_a_scores_buffer_equals_a_fresh_one_and_brute_force():
    rng = np.random.default_rng(2)
    table = rng.standard_normal((300, 16)).astype(np.float32)
    unit = table / np.linalg.norm(table, axis=1, keepdims=True)
    idx = np.column_stack([rng.integers(0, 200, (90, 3)), rng.integers(0, 300, 90)])
    # plant answers: for every third question, d (a word no question asks with) lies along
    # b − a + c, the exact 3CosAdd answer
    for k, q in enumerate(idx[::3]):
        q[3] = 200 + k
        target = unit[q[1]] - unit[q[0]] + unit[q[2]]
        unit[q[3]] = target / np.linalg.norm(target)
    semantic = np.arange(90) % 2 == 0
    fresh = analogy_of_rows(unit, idx, semantic, batch=32)
    buffer = np.full((32, 300), 7.0, dtype=np.float32)
    reused = analogy_of_rows(unit, idx, semantic, batch=32, scratch=buffer)
    assert fresh == reused
    correct = []
    for a, b, c, d in idx:
        scores = [(-np.inf if w in (a, b, c) else float(unit[w] @ (unit[b] - unit[a] + unit[c])))
                  for w in range(300)]
        correct.append(int(np.argmax(scores)) == d)
    correct = np.array(correct)
    assert fresh["overall"] == pytest.approx(correct.mean())
    assert fresh["semantic"] == pytest.approx(correct[semantic].mean())
    assert correct[::3].all()  # the planted answers are found
