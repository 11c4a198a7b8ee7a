"""Fused forward and backward of the lexical auxiliary losses (similarity, analogy) in numba.

Through autograd each of these losses is some thirty small tensor operations a step, forward
and backward, on a few hundred rows: the per-operation overhead, not the arithmetic, was most
of the auxiliary tasks' time. Here one pass over the batch computes the loss and the gradient
of every row it read; the tasks hand both to autograd as a row-sparse gradient
(tasks.base.RowGradientLoss). The torch formulas in the tasks stay the reference these are
tested against (same draws, same loss, same gradients within float tolerance).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from mt2st.kernels.compiling import compiled_once

#: F.normalize's and F.cosine_similarity's floors under a norm
NORMALIZE_EPS = 1e-12
COSINE_EPS = 1e-8
#: sums may be reordered (vectorised dot products and norms; they differ from a sequential
#: sum by rounding only, as torch's own reductions do); NaN and inf keep their meaning, so a
#: diverging run is still seen as one
FAST = {"reassoc", "contract", "nsz"}


@njit(cache=True, nogil=True, error_model="numpy", fastmath=FAST)
def _norm(x) -> float:
    s = 0.0
    for k in range(x.shape[0]):
        s += x[k] * x[k]
    return math.sqrt(s)


@njit(cache=True, nogil=True, error_model="numpy", fastmath=FAST)
def _dot(x, y) -> float:
    s = 0.0
    for k in range(x.shape[0]):
        s += x[k] * y[k]
    return s


@njit(cache=True, nogil=True, error_model="numpy", fastmath=FAST)
def _through_unit(g, y, n, out) -> None:
    """out = the gradient on x of y = x / n (n = |x|, floored) given the gradient g on y."""
    gy = _dot(g, y)
    for k in range(g.shape[0]):
        out[k] = (g[k] - gy * y[k]) / n


@njit(cache=True, nogil=True, error_model="numpy", fastmath=FAST)
def similarity_loss_grad(table, i1, i2, target, grad, with_grad=True) -> float:
    """mean_b (cos(table[i1_b], table[i2_b]) − target_b)²; ``grad`` (2B × d) receives the
    gradient on the rows i1 (first B) and i2 (last B), unless ``with_grad`` is False (a
    detached loss: the value alone, the same bits, and ``grad`` untouched)."""
    n_pairs, dim = i1.shape[0], table.shape[1]
    ua = np.empty(dim)
    ub = np.empty(dim)
    loss = 0.0
    for b in range(n_pairs):
        a, c = table[i1[b]], table[i2[b]]
        na, nb = max(_norm(a), COSINE_EPS), max(_norm(c), COSINE_EPS)
        for k in range(dim):
            ua[k] = a[k] / na
            ub[k] = c[k] / nb
        cos = _dot(ua, ub)
        r = cos - target[b]
        loss += r * r
        if not with_grad:
            continue
        g = 2.0 * r / n_pairs
        for k in range(dim):  # d cos / d a = (ub − cos · ua) / |a|, and symmetrically
            grad[b, k] = g * (ub[k] - cos * ua[k]) / na
            grad[n_pairs + b, k] = g * (ua[k] - cos * ub[k]) / nb
    return loss / n_pairs


@njit(cache=True, nogil=True, error_model="numpy", fastmath=FAST)
def analogy_loss_grad(table, rows, temperature, grad, with_grad=True) -> float:
    """Negative-sampled 3CosAdd: per question, ``rows`` holds a, b, c, d then the noise words;
    the query unit(unit(b) − unit(a) + unit(c)) scores each candidate (d, noise) by cosine /
    temperature, and the loss is the mean cross-entropy of d. ``grad`` (B × rows × d) receives
    the gradient on every row read, unless ``with_grad`` is False (the value alone)."""
    n_q, width, dim = rows.shape[0], rows.shape[1], table.shape[1]
    n_cand = width - 3
    units = np.empty((width, dim))
    norms = np.empty(width)
    query = np.empty(dim)
    g_query = np.empty(dim)
    g_unit = np.empty(dim)
    g_sum = np.empty(dim)
    logits = np.empty(n_cand)
    loss = 0.0
    for q in range(n_q):
        for j in range(width):
            row = table[rows[q, j]]
            norms[j] = max(_norm(row), NORMALIZE_EPS)
            for k in range(dim):
                units[j, k] = row[k] / norms[j]
        for k in range(dim):
            query[k] = units[1, k] - units[0, k] + units[2, k]
        n_s = max(_norm(query), NORMALIZE_EPS)
        for k in range(dim):
            query[k] /= n_s
        top = -np.inf
        for j in range(n_cand):
            logits[j] = _dot(query, units[3 + j]) / temperature
            top = max(top, logits[j])
        total = 0.0
        for j in range(n_cand):
            total += math.exp(logits[j] - top)
        lse = top + math.log(total)
        loss += lse - logits[0]
        if not with_grad:
            continue
        g_query[:] = 0.0
        for j in range(n_cand):  # d loss / d logit_j = softmax_j − [j = 0], over the batch
            gl = (math.exp(logits[j] - lse) - (1.0 if j == 0 else 0.0)) / n_q / temperature
            for k in range(dim):
                g_query[k] += gl * units[3 + j, k]
                g_unit[k] = gl * query[k]
            _through_unit(g_unit, units[3 + j], norms[3 + j], grad[q, 3 + j])
        _through_unit(g_query, query, n_s, g_sum)  # the gradient on unit(b) − unit(a) + unit(c)
        for j, sign in ((0, -1.0), (1, 1.0), (2, 1.0)):
            for k in range(dim):
                g_unit[k] = sign * g_sum[k]
            _through_unit(g_unit, units[j], norms[j], grad[q, j])
    return loss / n_q


@njit(cache=True, nogil=True)
def _gathered(table, rows):
    """(the rows ``rows`` of ``table`` copied into one block, their indices in it). The copy
    reads the rows in one pass of independent loads, which the processor overlaps; the loss
    loops that read them in place wait for each row in turn (the table's rows are mostly out
    of cache after the primary's step). A detached analogy batch of 32 questions: 134 µs
    against 90 µs alone after a 4 MB pass, 80 µs against 70 µs in the training loop.
    The losses then compute on the copy with the same code, so the same bits."""
    n, dim = rows.shape[0], table.shape[1]
    block = np.empty((n, dim), dtype=table.dtype)
    for i in range(n):
        r = rows[i]
        for k in range(dim):
            block[i, k] = table[r, k]
    return block, np.arange(n)


@njit(cache=True, nogil=True)
def similarity_picked(table, pairs, scores, pick, rows, grad, with_grad=True) -> float:
    """``similarity_loss_grad`` on the pairs ``pick`` of ``pairs`` (2 × N word rows) and their
    ``scores``, gathered here: ``rows`` (2B) receives the rows read, word 1s then word 2s, in
    the order ``grad`` holds their gradients. One call a step instead of the gathers' few."""
    n = len(pick)
    target = np.empty(n, dtype=scores.dtype)
    for b in range(n):
        rows[b] = pairs[0, pick[b]]
        rows[n + b] = pairs[1, pick[b]]
        target[b] = scores[pick[b]]
    block, local = _gathered(table, rows)
    return similarity_loss_grad(block, local[:n], local[n:], target, grad, with_grad)


@njit(cache=True, nogil=True)
def analogy_picked(table, questions, pick, noise, temperature, rows, grad, with_grad=True) -> float:
    """``analogy_loss_grad`` on the questions ``pick`` of ``questions`` (N × 4 word rows) with
    their ``noise`` words (B × negatives), gathered here into ``rows`` (B × (4 + negatives):
    a, b, c, d, then the noise), the layout ``grad`` holds their gradients in."""
    for q in range(len(pick)):
        for j in range(4):
            rows[q, j] = questions[pick[q], j]
        for j in range(noise.shape[1]):
            rows[q, 4 + j] = noise[q, j]
    block, local = _gathered(table, rows.reshape(-1))
    return analogy_loss_grad(block, local.reshape(rows.shape), temperature, grad, with_grad)


@compiled_once
def compile_for(dtype: np.dtype) -> None:
    """Compile (or load from the cache) the kernels the tasks call (``similarity_picked``,
    ``analogy_picked``, with the losses they call compiled inside them) for a table of
    ``dtype``, so that the compilation never lands in a timed training step. The tasks pass
    ``with_grad`` always: a call that left it out would be typed apart (numba's
    ``omitted``) and compiled again, on the training clock."""
    table = np.ones((4, 2), dtype=dtype)
    similarity_picked(table, np.zeros((2, 1), np.int64), np.zeros(1, np.float32),
                      np.zeros(1, np.int64), np.empty(2, np.int64), np.empty((2, 2), dtype), True)
    analogy_picked(table, np.zeros((1, 4), np.int64), np.zeros(1, np.int64),
                   np.zeros((1, 1), np.int64), 0.1, np.empty((1, 5), np.int64),
                   np.empty((1, 5, 2), dtype), True)
