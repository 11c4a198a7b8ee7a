"""Negative-sampling kernels in numba: skip-gram, CBOW (mean) and fastText subword skip-gram.

Update rules follow gensim's ``word2vec_inner`` / ``fasttext_inner`` exactly: the first
negative is drawn from the RNG state before it steps; a negative equal to the positive target
is skipped; an update whose dot product is saturated (|f| >= 6) is skipped; CBOW with the mean
adds the full error to every context row; subword skip-gram adds it to the word row and to each
of its n-gram rows. The noise draw uses an alias table (O(1)) instead of gensim's bisection of a
cumulative table; the reduced window comes from the same LCG instead of numpy.

Parallelism is Hogwild: sentences are sharded contiguously, one shard per thread, each shard a
serial loop with its own RNG state and its own preallocated buffers, so one thread and one seed
give bitwise-identical tables. Nothing is allocated inside the loops.

The kernels take their arrays in four groups (numba passes a named tuple of arrays as one
struct): ``Sentences`` (the corpus and how a sentence is prepared), ``Rows`` (the tables),
``Noise`` (the alias table and how many noise words) and ``Scratch`` (a thread's buffers;
the parallel entry points take it with one leading row per thread).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

#: fast-math without 'nnan'/'ninf', so NaN and Inf checks keep working.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

_MULT = np.uint64(25214903917)
_ADD = np.uint64(11)
_MASK = np.uint64((1 << 48) - 1)
_SHIFT = np.uint64(16)
_LOW32 = np.uint64(0xFFFFFFFF)
_INV32 = 1.0 / 4294967296.0
_MAX_EXP = 6.0


class Sentences(NamedTuple):
    """The corpus of a shard and how each sentence is prepared: encoded tokens, sentence
    offsets, per-word subsampling thresholds (used when ``do_sample``), the window."""

    tokens: np.ndarray
    offsets: np.ndarray
    sample_int: np.ndarray
    do_sample: bool
    window: int


class Rows(NamedTuple):
    """The tables a kernel updates: input rows, output rows, fastText's n-gram rows and each
    word's n-gram ids (``sub_ids[sub_offsets[w]:sub_offsets[w + 1]]``; empty for sg and cbow)."""

    syn0: np.ndarray
    syn1neg: np.ndarray
    ngrams: np.ndarray
    sub_offsets: np.ndarray
    sub_ids: np.ndarray


class Noise(NamedTuple):
    """The noise distribution's alias table (``accept``, ``alias``) and the noise words a
    pair draws."""

    accept: np.ndarray
    alias: np.ndarray
    negative: int


class Scratch(NamedTuple):
    """A thread's buffers: the input's accumulated update and a composite input (work, neu1),
    a pair's output rows and logits (outs, logits), HogBatch's errors, context updates and
    context rows (grads, deltas, ctx), a sentence's kept tokens and reduced windows (buf, red).
    A kernel touches only those it needs."""

    work: np.ndarray
    neu1: np.ndarray
    outs: np.ndarray
    logits: np.ndarray
    grads: np.ndarray
    deltas: np.ndarray
    ctx: np.ndarray
    buf: np.ndarray
    red: np.ndarray


@njit(inline="always")
def _thread(scratch, k):
    """Thread k's part of per-thread scratch (every buffer's row k)."""
    return Scratch(scratch.work[k], scratch.neu1[k], scratch.outs[k], scratch.logits[k],
                   scratch.grads[k], scratch.deltas[k], scratch.ctx[k], scratch.buf[k],
                   scratch.red[k])


@njit(inline="always")
def _step(state):
    return (state * _MULT + _ADD) & _MASK


@njit(inline="always")
def _logistic_loss(f, positive):
    """The pair's loss, −log σ(f) for the positive target and −log σ(−f) for a noise word,
    without overflow at large margins (the loss column of a record)."""
    z = f if positive else -f
    return np.log1p(np.exp(-z)) if z > -30.0 else -z


@njit(inline="always")
def _saturated(f):
    """gensim's skip: a dot product at or beyond ±MAX_EXP updates nothing (a NaN is not
    skipped: it reaches the table, where the finiteness check finds it)."""
    return f <= -_MAX_EXP or f >= _MAX_EXP


@njit(inline="always")
def _logistic_gradient(f, label, alpha):
    """(label − σ(f)) · α: the step both rows of a pair take, each along the other."""
    return (label - 1.0 / (1.0 + np.exp(-f))) * alpha


@njit(inline="always")
def _draw_noise(state, accept, alias):
    """One draw from the alias table; returns (word, new state). Two LCG steps."""
    n = np.uint64(accept.shape[0])
    i = np.int64((state >> _SHIFT) % n)
    state = _step(state)
    u = np.float64((state >> _SHIFT) & _LOW32) * _INV32
    state = _step(state)
    if u >= accept[i]:
        i = np.int64(alias[i])
    return i, state


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def ns_update(l1, syn1neg, target, accept, alias, negative, alpha, work, outs, logits, state,
              compute_loss):
    """One positive target and ``negative`` noise words (alias table ``accept``, ``alias``)
    against input vector ``l1``, with a pair's buffers ``work``, ``outs``, ``logits``.

    The per-pair function takes its arrays one by one, not as ``Noise`` and ``Scratch``: it
    runs once per context-centre pair, and the grouped form measured 1.08× the old time on
    skip-gram (in-process A/B; an A/A pair read 0.99–1.01×), where the shards and the helpers
    inlined into them measured within noise.

    Updates ``syn1neg`` in place, leaves the input's accumulated update in ``work`` (the
    caller applies it), returns (new state, loss). ``l1`` must not alias ``syn1neg``;
    ``l1`` and ``work`` may be longer than the vector size (per-thread buffers are padded to
    cache lines). The noise words are drawn first and all logits computed before any row
    changes, so the rows' loads overlap; that is gensim's sequential rule exactly unless a
    noise word repeats within the pair, and then the pair runs sequentially
    (``_ns_sequential``).
    """
    k1 = negative + 1
    state0 = state
    outs[0] = target
    for d in range(1, k1):
        outs[d], state = _draw_noise(state, accept, alias)
        for e in range(1, d):
            if outs[e] == outs[d]:
                return _ns_sequential(l1, syn1neg, target, accept, alias, negative, alpha,
                                      work, state0, compute_loss)
    dim = syn1neg.shape[1]
    for d in range(k1):
        out = syn1neg[outs[d]]  # a row view: the loops below vectorise over it
        f = np.float32(0.0)
        for k in range(dim):
            f += l1[k] * out[k]
        logits[d] = f
    for k in range(dim):
        work[k] = 0.0
    loss = 0.0
    for d in range(k1):
        if d > 0 and outs[d] == target:
            continue
        f = logits[d]
        if compute_loss:
            loss += _logistic_loss(f, d == 0)
        if _saturated(f):
            continue
        g = np.float32(_logistic_gradient(f, 1.0 if d == 0 else 0.0, alpha))
        out = syn1neg[outs[d]]
        for k in range(dim):
            work[k] += g * out[k]
            out[k] += g * l1[k]
    return state, loss


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def _ns_sequential(l1, syn1neg, target, accept, alias, negative, alpha, work, state,
                   compute_loss):
    """gensim's loop as written: draw, dot, update, one output row after the other."""
    dim = syn1neg.shape[1]
    for k in range(dim):
        work[k] = 0.0
    loss = 0.0
    for d in range(negative + 1):
        if d == 0:
            tgt = target
            label = 1.0
        else:
            tgt, state = _draw_noise(state, accept, alias)
            if tgt == target:
                continue
            label = 0.0
        out = syn1neg[tgt]  # a row view: the loops below vectorise over it
        f = np.float32(0.0)
        for k in range(dim):
            f += l1[k] * out[k]
        if compute_loss:
            loss += _logistic_loss(f, d == 0)
        if _saturated(f):
            continue
        g = np.float32(_logistic_gradient(f, label, alpha))
        for k in range(dim):
            work[k] += g * out[k]
            out[k] += g * l1[k]
    return state, loss


@njit(inline="always", fastmath=FASTMATH, nogil=True)
def cbow_position(rows, lo, hi, i, noise, alpha, scratch, state, compute_loss):
    """One CBOW step: the mean of context rows scratch.buf[lo:hi] (without i) predicts
    buf[i]; each context row then receives the full error (word2vec's convention, not divided
    by n)."""
    syn0, syn1neg = rows.syn0, rows.syn1neg
    buf, neu1, work = scratch.buf, scratch.neu1, scratch.work
    outs, logits = scratch.outs, scratch.logits
    accept, alias, negative = noise
    dim = syn0.shape[1]
    if hi - lo <= 1:
        return state, 0.0  # no context word: nothing to learn from
    for k in range(dim):
        neu1[k] = 0.0
    for j in range(lo, hi):
        if j != i:
            row = buf[j]
            for k in range(dim):
                neu1[k] += syn0[row, k]
    inv = np.float32(1.0 / (hi - lo - 1))
    for k in range(dim):
        neu1[k] *= inv
    state, loss = ns_update(neu1, syn1neg, buf[i], accept, alias, negative, alpha,
                            work, outs, logits, state, compute_loss)
    for j in range(lo, hi):
        if j != i:
            row = buf[j]
            for k in range(dim):
                syn0[row, k] += work[k]
    return state, loss


@njit(inline="always", fastmath=FASTMATH, nogil=True)
def fasttext_pair(rows, w, target, noise, alpha, scratch, state, compute_loss):
    """One subword skip-gram step: the mean of word row w and its n-gram rows predicts
    ``target``; every one of those rows receives the full error (fastText's rule)."""
    syn0, syn1neg, ngrams, sub_offsets, sub_ids = rows
    neu1, work, outs, logits = scratch.neu1, scratch.work, scratch.outs, scratch.logits
    accept, alias, negative = noise
    g_lo, g_hi = sub_offsets[w], sub_offsets[w + 1]
    dim = syn0.shape[1]
    inv = np.float32(1.0 / (1 + g_hi - g_lo))
    for k in range(dim):
        neu1[k] = syn0[w, k]
    for p in range(g_lo, g_hi):
        gid = sub_ids[p]
        for k in range(dim):
            neu1[k] += ngrams[gid, k]
    for k in range(dim):
        neu1[k] *= inv
    state, loss = ns_update(neu1, syn1neg, target, accept, alias, negative, alpha,
                            work, outs, logits, state, compute_loss)
    for k in range(dim):
        syn0[w, k] += work[k]
    for p in range(g_lo, g_hi):
        gid = sub_ids[p]
        for k in range(dim):
            ngrams[gid, k] += work[k]
    return state, loss


@njit(inline="always")
def _subsample(tokens, a, b, sample_int, do_sample, buf, state):
    n = 0
    for t in range(a, b):
        w = tokens[t]
        if do_sample:
            r = state >> _SHIFT
            state = _step(state)
            if sample_int[w] < r:
                continue
        buf[n] = w
        n += 1
    return n, state


@njit(inline="always")
def _reduce_windows(n, window, red, state):
    win = np.uint64(window)
    for i in range(n):
        red[i] = np.int64((state >> _SHIFT) % win)
        state = _step(state)
    return state


@njit(inline="always")
def _prepare_sentence(sents, s, s_lo, raw_total, alphas, scratch, state):
    """Sentence s of a shard: its learning rate (linear over the shard's raw words), the kept
    tokens in ``scratch.buf`` (subsampling) and the reduced windows in ``scratch.red``.
    Returns (n, alpha, state)."""
    offsets = sents.offsets
    alpha_start, alpha_end = alphas
    alpha = alpha_start + (alpha_end - alpha_start) * ((offsets[s] - offsets[s_lo]) / raw_total)
    n, state = _subsample(sents.tokens, offsets[s], offsets[s + 1], sents.sample_int,
                          sents.do_sample, scratch.buf, state)
    state = _reduce_windows(n, sents.window, scratch.red, state)
    return n, alpha, state


@njit(inline="always")
def _window(i, n, window, red):
    """The reduced window around kept position i: positions [lo, hi)."""
    return max(0, i - window + red[i]), min(n, i + window + 1 - red[i])


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def sg_shard(sents, s_lo, s_hi, rows, noise, alphas, state, scratch, compute_loss):
    """Skip-gram over sentences [s_lo, s_hi): context row ``syn0[w_j]`` predicts centre w_i.
    Returns (state, effective words, loss)."""
    syn0, syn1neg = rows.syn0, rows.syn1neg
    buf, red, work = scratch.buf, scratch.red, scratch.work
    outs, logits = scratch.outs, scratch.logits
    window = sents.window
    accept, alias, negative = noise
    raw_total = max(sents.offsets[s_hi] - sents.offsets[s_lo], 1)
    eff = 0
    loss = 0.0
    dim = syn0.shape[1]
    for s in range(s_lo, s_hi):
        n, alpha, state = _prepare_sentence(sents, s, s_lo, raw_total, alphas, scratch, state)
        eff += n
        for i in range(n):
            lo, hi = _window(i, n, window, red)
            for j in range(lo, hi):
                if j == i:
                    continue
                row = buf[j]
                state, lss = ns_update(syn0[row], syn1neg, buf[i], accept, alias, negative,
                                       alpha, work, outs, logits, state, compute_loss)
                loss += lss
                for k in range(dim):
                    syn0[row, k] += work[k]
    return state, eff, loss


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def cbow_shard(sents, s_lo, s_hi, rows, noise, alphas, state, scratch, compute_loss):
    """CBOW with the mean of the context predicting the centre word (gensim cbow_mean=1)."""
    window, red = sents.window, scratch.red
    raw_total = max(sents.offsets[s_hi] - sents.offsets[s_lo], 1)
    eff = 0
    loss = 0.0
    for s in range(s_lo, s_hi):
        n, alpha, state = _prepare_sentence(sents, s, s_lo, raw_total, alphas, scratch, state)
        eff += n
        for i in range(n):
            lo, hi = _window(i, n, window, red)
            state, lss = cbow_position(rows, lo, hi, i, noise, alpha, scratch, state,
                                       compute_loss)
            loss += lss
    return state, eff, loss


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def fasttext_shard(sents, s_lo, s_hi, rows, noise, alphas, state, scratch, compute_loss):
    """Subword skip-gram: the centre word's input is the mean of its own row and its n-gram
    rows (fastText's average over 1 + n rows); the error is added to each of those rows."""
    buf = scratch.buf
    window, red = sents.window, scratch.red
    raw_total = max(sents.offsets[s_hi] - sents.offsets[s_lo], 1)
    eff = 0
    loss = 0.0
    for s in range(s_lo, s_hi):
        n, alpha, state = _prepare_sentence(sents, s, s_lo, raw_total, alphas, scratch, state)
        eff += n
        for i in range(n):
            lo, hi = _window(i, n, window, red)
            for j in range(lo, hi):
                if j == i:
                    continue
                state, lss = fasttext_pair(rows, buf[i], buf[j], noise, alpha, scratch, state,
                                           compute_loss)
                loss += lss
    return state, eff, loss


@njit(inline="always", fastmath=FASTMATH, nogil=True)
def hogbatch_centre(rows, lo, hi, i, noise, alpha, scratch, state, compute_loss):
    """One HogBatch step (Ji et al. 2016): the context rows C = syn0[buf[lo:hi]] (without i)
    against the centre word buf[i] and ``negative`` noise words drawn once for the whole
    window (O), as small dense products: errors G = (labels - σ(C·Oᵀ))·alpha, then
    ΔC = G·O and ΔO = Gᵀ·C, both from the rows as they were before this step. A noise word
    equal to the centre and a saturated logit (|f| >= 6) get no update, as in gensim.
    Scratch: ``grads`` (contexts × outputs), ``deltas`` (contexts × dim), ``ctx``, ``outs``."""
    syn0, syn1neg, buf = rows.syn0, rows.syn1neg, scratch.buf
    grads, deltas, ctx, outs = scratch.grads, scratch.deltas, scratch.ctx, scratch.outs
    accept, alias, negative = noise
    dim = syn0.shape[1]
    k1 = negative + 1
    m = 0
    for j in range(lo, hi):
        if j != i:
            ctx[m] = buf[j]
            m += 1
    if m == 0:
        return state, 0.0
    target = buf[i]
    outs[0] = target
    for d in range(1, k1):
        outs[d], state = _draw_noise(state, accept, alias)
    loss = 0.0
    for c in range(m):  # G, from the logits C·Oᵀ
        inp = syn0[ctx[c]]
        for d in range(k1):
            g = np.float32(0.0)
            if d == 0 or outs[d] != target:
                out = syn1neg[outs[d]]
                f = np.float32(0.0)
                for k in range(dim):
                    f += inp[k] * out[k]
                if compute_loss:
                    loss += _logistic_loss(f, d == 0)
                if not _saturated(f):
                    g = np.float32(_logistic_gradient(f, 1.0 if d == 0 else 0.0, alpha))
            grads[c, d] = g
    for c in range(m):  # ΔC = G·O (output rows not yet changed)
        delta = deltas[c]
        for k in range(dim):
            delta[k] = 0.0
        for d in range(k1):
            g = grads[c, d]
            if g != 0.0:
                out = syn1neg[outs[d]]
                for k in range(dim):
                    delta[k] += g * out[k]
    for d in range(k1):  # O += Gᵀ·C (context rows not yet changed)
        out = syn1neg[outs[d]]
        for c in range(m):
            g = grads[c, d]
            if g != 0.0:
                inp = syn0[ctx[c]]
                for k in range(dim):
                    out[k] += g * inp[k]
    for c in range(m):  # C += ΔC
        inp = syn0[ctx[c]]
        delta = deltas[c]
        for k in range(dim):
            inp[k] += delta[k]
    return state, loss


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def sg_hogbatch_shard(sents, s_lo, s_hi, rows, noise, alphas, state, scratch, compute_loss):
    """Skip-gram over sentences [s_lo, s_hi) with one HogBatch step per centre word (the
    window's context rows share the centre's noise words). Returns (state, eff. words, loss)."""
    window, red = sents.window, scratch.red
    raw_total = max(sents.offsets[s_hi] - sents.offsets[s_lo], 1)
    eff = 0
    loss = 0.0
    for s in range(s_lo, s_hi):
        n, alpha, state = _prepare_sentence(sents, s, s_lo, raw_total, alphas, scratch, state)
        eff += n
        for i in range(n):
            lo, hi = _window(i, n, window, red)
            state, lss = hogbatch_centre(rows, lo, hi, i, noise, alpha, scratch, state,
                                         compute_loss)
            loss += lss
    return state, eff, loss


# Hogwild entry points: shard k covers sentences bounds[k]..bounds[k+1], one thread each, with
# the k-th row of every scratch buffer, its own LCG state, effective words and loss.
@njit(cache=True, parallel=True)
def sg_parallel(sents, bounds, rows, noise, alphas, states, scratch, effs, losses,
                compute_loss):
    for k in prange(bounds.shape[0] - 1):
        states[k], effs[k], losses[k] = sg_shard(sents, bounds[k], bounds[k + 1], rows, noise,
                                                 alphas, states[k], _thread(scratch, k),
                                                 compute_loss)


@njit(cache=True, parallel=True)
def cbow_parallel(sents, bounds, rows, noise, alphas, states, scratch, effs, losses,
                  compute_loss):
    for k in prange(bounds.shape[0] - 1):
        states[k], effs[k], losses[k] = cbow_shard(sents, bounds[k], bounds[k + 1], rows, noise,
                                                   alphas, states[k], _thread(scratch, k),
                                                   compute_loss)


@njit(cache=True, parallel=True)
def fasttext_parallel(sents, bounds, rows, noise, alphas, states, scratch, effs, losses,
                      compute_loss):
    for k in prange(bounds.shape[0] - 1):
        states[k], effs[k], losses[k] = fasttext_shard(sents, bounds[k], bounds[k + 1], rows,
                                                       noise, alphas, states[k],
                                                       _thread(scratch, k), compute_loss)


@njit(cache=True, parallel=True)
def sg_hogbatch_parallel(sents, bounds, rows, noise, alphas, states, scratch, effs, losses,
                         compute_loss):
    for k in prange(bounds.shape[0] - 1):
        states[k], effs[k], losses[k] = sg_hogbatch_shard(sents, bounds[k], bounds[k + 1], rows,
                                                          noise, alphas, states[k],
                                                          _thread(scratch, k), compute_loss)


@njit(cache=True, fastmath=FASTMATH)
def apply_pair_batch(method, syn0, ngrams, syn1neg, inputs, ctx_offsets, sub_off, sub_ids,
                     targets, negatives, alpha, d_in, d_ngrams, d_out):
    """Apply a pre-drawn batch with snapshot semantics: every update is computed from the
    tables as they were before the batch, then all are added (what the torch backend does).
    ``method``: 0 sg (input row inputs[p]), 1 cbow (mean of inputs[ctx_offsets[p]:...]),
    2 fasttext (mean of word row inputs[p] and its n-gram rows). ``d_*`` are zeroed delta
    buffers shaped like the tables. Returns the loss sum. For comparisons, not for speed."""
    dim = syn0.shape[1]
    n_pairs = targets.shape[0]
    l1 = np.zeros(dim, dtype=np.float32)
    work = np.zeros(dim, dtype=np.float32)
    loss = 0.0
    for p in range(n_pairs):
        for k in range(dim):
            l1[k] = 0.0
        if method == 0:
            for k in range(dim):
                l1[k] = syn0[inputs[p], k]
        elif method == 1:
            a, b = ctx_offsets[p], ctx_offsets[p + 1]
            for q in range(a, b):
                for k in range(dim):
                    l1[k] += syn0[inputs[q], k]
            for k in range(dim):
                l1[k] /= b - a
        else:
            w = inputs[p]
            for k in range(dim):
                l1[k] = syn0[w, k]
            for q in range(sub_off[w], sub_off[w + 1]):
                for k in range(dim):
                    l1[k] += ngrams[sub_ids[q], k]
            for k in range(dim):
                l1[k] /= 1 + sub_off[w + 1] - sub_off[w]
        for k in range(dim):
            work[k] = 0.0
        for d in range(negatives.shape[1] + 1):
            if d == 0:
                tgt, label = targets[p], 1.0
            else:
                tgt, label = negatives[p, d - 1], 0.0
                if tgt == targets[p]:
                    continue
            f = 0.0
            for k in range(dim):
                f += l1[k] * syn1neg[tgt, k]
            loss += _logistic_loss(f, d == 0)
            if _saturated(f):
                continue
            g = _logistic_gradient(f, label, alpha)
            for k in range(dim):
                work[k] += g * syn1neg[tgt, k]
                d_out[tgt, k] += g * l1[k]
        if method == 0:
            for k in range(dim):
                d_in[inputs[p], k] += work[k]
        elif method == 1:
            for q in range(ctx_offsets[p], ctx_offsets[p + 1]):
                for k in range(dim):
                    d_in[inputs[q], k] += work[k]
        else:
            w = inputs[p]
            for k in range(dim):
                d_in[w, k] += work[k]
            for q in range(sub_off[w], sub_off[w + 1]):
                for k in range(dim):
                    d_ngrams[sub_ids[q], k] += work[k]
    syn0 += d_in
    ngrams += d_ngrams
    syn1neg += d_out
    return loss
