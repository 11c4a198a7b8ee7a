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
"""

from __future__ import annotations

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
def ns_update(l1, syn1neg, target, negative, accept, alias, alpha, work, outs, logits, state,
              compute_loss):
    """One positive target and ``negative`` noise words against input vector ``l1``.

    Updates ``syn1neg`` in place, leaves the input's accumulated update in ``work`` (the caller
    applies it), returns (new state, loss). ``l1`` must not alias ``syn1neg``; ``l1`` and
    ``work`` may be longer than the vector size (per-thread buffers are padded to cache lines).
    The noise words are drawn first and all logits computed before any row changes, so the
    rows' loads overlap; that is gensim's sequential rule exactly unless a noise word repeats
    within the pair, and then the pair runs sequentially (``_ns_sequential``).
    """
    k1 = negative + 1
    state0 = state
    outs[0] = target
    for d in range(1, k1):
        outs[d], state = _draw_noise(state, accept, alias)
        for e in range(1, d):
            if outs[e] == outs[d]:
                return _ns_sequential(l1, syn1neg, target, negative, accept, alias, alpha, work,
                                      state0, compute_loss)
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
def _ns_sequential(l1, syn1neg, target, negative, accept, alias, alpha, work, state,
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


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def cbow_position(syn0, syn1neg, buf, lo, hi, i, negative, accept, alias, alpha, work, neu1,
                  outs, logits, state, compute_loss):
    """One CBOW step: the mean of context rows buf[lo:hi] (without i) predicts buf[i]; each
    context row then receives the full error (word2vec's convention, not divided by n)."""
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
    state, loss = ns_update(neu1, syn1neg, buf[i], negative, accept, alias, alpha, work, outs,
                            logits, state, compute_loss)
    for j in range(lo, hi):
        if j != i:
            row = buf[j]
            for k in range(dim):
                syn0[row, k] += work[k]
    return state, loss


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def fasttext_pair(syn0, syn0_ngrams, syn1neg, w, sub_ids, g_lo, g_hi, target, negative, accept,
                  alias, alpha, work, neu1, outs, logits, state, compute_loss):
    """One subword skip-gram step: mean of word row w and n-gram rows sub_ids[g_lo:g_hi]
    predicts ``target``; every one of those rows receives the full error (fastText's rule)."""
    dim = syn0.shape[1]
    inv = np.float32(1.0 / (1 + g_hi - g_lo))
    for k in range(dim):
        neu1[k] = syn0[w, k]
    for p in range(g_lo, g_hi):
        gid = sub_ids[p]
        for k in range(dim):
            neu1[k] += syn0_ngrams[gid, k]
    for k in range(dim):
        neu1[k] *= inv
    state, loss = ns_update(neu1, syn1neg, target, negative, accept, alias, alpha, work, outs,
                            logits, state, compute_loss)
    for k in range(dim):
        syn0[w, k] += work[k]
    for p in range(g_lo, g_hi):
        gid = sub_ids[p]
        for k in range(dim):
            syn0_ngrams[gid, k] += work[k]
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
def _prepare_sentence(tokens, offsets, s, s_lo, raw_total, alpha_start, alpha_end, sample_int,
                      do_sample, window, buf, red, state):
    """Sentence s of a shard: its learning rate (linear over the shard's raw words), the kept
    tokens in ``buf`` (subsampling) and the reduced windows in ``red``. Returns (n, alpha, state)."""
    alpha = alpha_start + (alpha_end - alpha_start) * ((offsets[s] - offsets[s_lo]) / raw_total)
    n, state = _subsample(tokens, offsets[s], offsets[s + 1], sample_int, do_sample, buf, state)
    state = _reduce_windows(n, window, red, state)
    return n, alpha, state


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def sg_shard(tokens, offsets, s_lo, s_hi, syn0, syn1neg, sample_int, do_sample, accept, alias,
             window, negative, alpha_start, alpha_end, state, work, outs, logits, buf, red,
             compute_loss):
    """Skip-gram over sentences [s_lo, s_hi): context row ``syn0[w_j]`` predicts centre w_i.
    Returns (state, effective words, loss)."""
    raw_total = max(offsets[s_hi] - offsets[s_lo], 1)
    eff = 0
    loss = 0.0
    dim = syn0.shape[1]
    for s in range(s_lo, s_hi):
        n, alpha, state = _prepare_sentence(tokens, offsets, s, s_lo, raw_total, alpha_start,
                                            alpha_end, sample_int, do_sample, window, buf, red,
                                            state)
        eff += n
        for i in range(n):
            lo = max(0, i - window + red[i])
            hi = min(n, i + window + 1 - red[i])
            for j in range(lo, hi):
                if j == i:
                    continue
                row = buf[j]
                state, lss = ns_update(syn0[row], syn1neg, buf[i], negative, accept, alias,
                                       alpha, work, outs, logits, state, compute_loss)
                loss += lss
                for k in range(dim):
                    syn0[row, k] += work[k]
    return state, eff, loss


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def cbow_shard(tokens, offsets, s_lo, s_hi, syn0, syn1neg, sample_int, do_sample, accept, alias,
               window, negative, alpha_start, alpha_end, state, work, neu1, outs, logits, buf, red,
               compute_loss):
    """CBOW with the mean of the context predicting the centre word (gensim cbow_mean=1)."""
    raw_total = max(offsets[s_hi] - offsets[s_lo], 1)
    eff = 0
    loss = 0.0
    for s in range(s_lo, s_hi):
        n, alpha, state = _prepare_sentence(tokens, offsets, s, s_lo, raw_total, alpha_start,
                                            alpha_end, sample_int, do_sample, window, buf, red,
                                            state)
        eff += n
        for i in range(n):
            lo = max(0, i - window + red[i])
            hi = min(n, i + window + 1 - red[i])
            state, lss = cbow_position(syn0, syn1neg, buf, lo, hi, i, negative, accept, alias,
                                       alpha, work, neu1, outs, logits, state, compute_loss)
            loss += lss
    return state, eff, loss


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def fasttext_shard(tokens, offsets, s_lo, s_hi, syn0, syn0_ngrams, syn1neg, sub_off, sub_ids,
                   sample_int, do_sample, accept, alias, window, negative, alpha_start, alpha_end,
                   state, work, neu1, outs, logits, buf, red, compute_loss):
    """Subword skip-gram: the centre word's input is the mean of its own row and its n-gram
    rows (fastText's average over 1 + n rows); the error is added to each of those rows."""
    raw_total = max(offsets[s_hi] - offsets[s_lo], 1)
    eff = 0
    loss = 0.0
    for s in range(s_lo, s_hi):
        n, alpha, state = _prepare_sentence(tokens, offsets, s, s_lo, raw_total, alpha_start,
                                            alpha_end, sample_int, do_sample, window, buf, red,
                                            state)
        eff += n
        for i in range(n):
            w = buf[i]
            g_lo = sub_off[w]
            g_hi = sub_off[w + 1]
            lo = max(0, i - window + red[i])
            hi = min(n, i + window + 1 - red[i])
            for j in range(lo, hi):
                if j == i:
                    continue
                state, lss = fasttext_pair(syn0, syn0_ngrams, syn1neg, w, sub_ids, g_lo, g_hi,
                                           buf[j], negative, accept, alias, alpha, work, neu1,
                                           outs, logits, state, compute_loss)
                loss += lss
    return state, eff, loss


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def hogbatch_centre(syn0, syn1neg, buf, lo, hi, i, negative, accept, alias, alpha, grads, deltas,
                    ctx, outs, state, compute_loss):
    """One HogBatch step (Ji et al. 2016): the context rows C = syn0[buf[lo:hi]] (without i)
    against the centre word buf[i] and ``negative`` noise words drawn once for the whole
    window (O), as small dense products: errors G = (labels - σ(C·Oᵀ))·alpha, then
    ΔC = G·O and ΔO = Gᵀ·C, both from the rows as they were before this step. A noise word
    equal to the centre and a saturated logit (|f| >= 6) get no update, as in gensim.
    Scratch: ``grads`` (contexts × outputs), ``deltas`` (contexts × dim), ``ctx``, ``outs``."""
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
def sg_hogbatch_shard(tokens, offsets, s_lo, s_hi, syn0, syn1neg, sample_int, do_sample, accept,
                      alias, window, negative, alpha_start, alpha_end, state, grads, deltas, ctx,
                      outs, buf, red, compute_loss):
    """Skip-gram over sentences [s_lo, s_hi) with one HogBatch step per centre word (the
    window's context rows share the centre's noise words). Returns (state, eff. words, loss)."""
    raw_total = max(offsets[s_hi] - offsets[s_lo], 1)
    eff = 0
    loss = 0.0
    for s in range(s_lo, s_hi):
        n, alpha, state = _prepare_sentence(tokens, offsets, s, s_lo, raw_total, alpha_start,
                                            alpha_end, sample_int, do_sample, window, buf, red,
                                            state)
        eff += n
        for i in range(n):
            lo = max(0, i - window + red[i])
            hi = min(n, i + window + 1 - red[i])
            state, lss = hogbatch_centre(syn0, syn1neg, buf, lo, hi, i, negative, accept, alias,
                                         alpha, grads, deltas, ctx, outs, state, compute_loss)
            loss += lss
    return state, eff, loss


@njit(cache=True, parallel=True)
def sg_hogbatch_parallel(tokens, offsets, bounds, syn0, syn1neg, sample_int, do_sample, accept,
                         alias, window, negative, alpha_start, alpha_end, states, grads, deltas,
                         ctx, outs, buf, red, effs, losses, compute_loss):
    for k in prange(bounds.shape[0] - 1):
        states[k], effs[k], losses[k] = sg_hogbatch_shard(
            tokens, offsets, bounds[k], bounds[k + 1], syn0, syn1neg, sample_int, do_sample,
            accept, alias, window, negative, alpha_start, alpha_end, states[k], grads[k],
            deltas[k], ctx[k], outs[k], buf[k], red[k], compute_loss)


@njit(cache=True, parallel=True)
def sg_parallel(tokens, offsets, bounds, syn0, syn1neg, sample_int, do_sample, accept, alias,
                window, negative, alpha_start, alpha_end, states, work, outs, logits, buf, red, effs,
                losses, compute_loss):
    """Hogwild: shard k covers sentences bounds[k]..bounds[k+1], one thread each."""
    for k in prange(bounds.shape[0] - 1):
        states[k], effs[k], losses[k] = sg_shard(
            tokens, offsets, bounds[k], bounds[k + 1], syn0, syn1neg, sample_int, do_sample,
            accept, alias, window, negative, alpha_start, alpha_end, states[k], work[k], outs[k],
            logits[k], buf[k], red[k], compute_loss)


@njit(cache=True, parallel=True)
def cbow_parallel(tokens, offsets, bounds, syn0, syn1neg, sample_int, do_sample, accept, alias,
                  window, negative, alpha_start, alpha_end, states, work, neu1, outs, logits, buf,
                  red, effs, losses, compute_loss):
    for k in prange(bounds.shape[0] - 1):
        states[k], effs[k], losses[k] = cbow_shard(
            tokens, offsets, bounds[k], bounds[k + 1], syn0, syn1neg, sample_int, do_sample,
            accept, alias, window, negative, alpha_start, alpha_end, states[k], work[k], neu1[k],
            outs[k], logits[k], buf[k], red[k], compute_loss)


@njit(cache=True, parallel=True)
def fasttext_parallel(tokens, offsets, bounds, syn0, syn0_ngrams, syn1neg, sub_off, sub_ids,
                      sample_int, do_sample, accept, alias, window, negative, alpha_start,
                      alpha_end, states, work, neu1, outs, logits, buf, red, effs, losses,
                      compute_loss):
    for k in prange(bounds.shape[0] - 1):
        states[k], effs[k], losses[k] = fasttext_shard(
            tokens, offsets, bounds[k], bounds[k + 1], syn0, syn0_ngrams, syn1neg, sub_off,
            sub_ids, sample_int, do_sample, accept, alias, window, negative, alpha_start,
            alpha_end, states[k], work[k], neu1[k], outs[k], logits[k], buf[k], red[k],
            compute_loss)


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
