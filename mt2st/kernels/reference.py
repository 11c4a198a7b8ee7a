"""A plain numpy reference of the negative-sampling updates: slow, obviously correct, and
drawing the same random numbers as the numba kernels (the word2vec LCG), so tests can compare
tables update for update. One sentence at a time, one thread, constant learning rate."""

from __future__ import annotations

import math

import numpy as np

from mt2st.kernels.tables import MAX_EXP, lcg_next


class LCG:
    """The word2vec/gensim generator: ``draw()`` returns state >> 16 and then steps."""

    def __init__(self, state: int) -> None:
        self.state = int(state)

    def draw(self) -> int:
        value = self.state >> 16
        self.state = lcg_next(self.state)
        return value

    def noise(self, accept: np.ndarray, alias: np.ndarray) -> int:
        i = self.draw() % len(accept)
        u = (self.draw() & 0xFFFFFFFF) / 2**32
        return i if u < accept[i] else int(alias[i])


def sgns_loss(l1: np.ndarray, out_rows: np.ndarray, labels: np.ndarray) -> float:
    """-sum log sigmoid(±l1·u): the loss whose gradient the kernels follow."""
    z = out_rows @ l1
    signed = np.where(labels > 0, z, -z)
    return float(np.sum(np.logaddexp(0.0, -signed)))


def ns_update(l1: np.ndarray, syn1neg: np.ndarray, target: int, negative: int, accept, alias,
              alpha: float, rng: LCG) -> tuple[np.ndarray, float]:
    """Returns the input's update ``work`` and the loss; updates ``syn1neg`` in place."""
    work = np.zeros_like(l1)
    loss = 0.0
    for d in range(negative + 1):
        if d == 0:
            tgt, label = target, 1.0
        else:
            tgt = rng.noise(accept, alias)
            if tgt == target:
                continue
            label = 0.0
        f = float(np.dot(l1, syn1neg[tgt]))
        z = f if d == 0 else -f
        loss += math.log1p(math.exp(-z)) if z > -30 else -z
        if f <= -MAX_EXP or f >= MAX_EXP:
            continue
        g = (label - 1.0 / (1.0 + math.exp(-f))) * alpha
        work += g * syn1neg[tgt]
        syn1neg[tgt] += g * l1
    return work, loss


def _prepare(sentence, sample_int, do_sample, window, rng):
    kept = []
    for w in sentence:
        if do_sample and sample_int[w] < rng.draw():
            continue
        kept.append(int(w))
    reduced = [rng.draw() % window for _ in kept]
    return kept, reduced


def _window(i, n, window, b):
    return max(0, i - window + b), min(n, i + window + 1 - b)


def sg_sentence(sentence, syn0, syn1neg, sample_int, do_sample, accept, alias, window, negative,
                alpha, rng: LCG) -> float:
    kept, reduced = _prepare(sentence, sample_int, do_sample, window, rng)
    loss = 0.0
    for i in range(len(kept)):
        lo, hi = _window(i, len(kept), window, reduced[i])
        for j in range(lo, hi):
            if j != i:
                work, lss = ns_update(syn0[kept[j]].copy(), syn1neg, kept[i], negative, accept,
                                      alias, alpha, rng)
                syn0[kept[j]] += work
                loss += lss
    return loss


def sg_hogbatch_sentence(sentence, syn0, syn1neg, sample_int, do_sample, accept, alias, window,
                         negative, alpha, rng: LCG) -> float:
    """HogBatch skip-gram: per centre word, the window's context rows C against the centre and
    one shared draw of noise words O, as matrices: G = (labels - σ(C·Oᵀ))·alpha (zero for a
    noise word equal to the centre and for |logit| >= 6), then C += G·O and O += Gᵀ·C, both
    from the rows as they were before the step."""
    kept, reduced = _prepare(sentence, sample_int, do_sample, window, rng)
    loss = 0.0
    for i in range(len(kept)):
        lo, hi = _window(i, len(kept), window, reduced[i])
        ctx = [kept[j] for j in range(lo, hi) if j != i]
        if not ctx:
            continue
        outs = [kept[i]] + [rng.noise(accept, alias) for _ in range(negative)]
        live = np.array([d == 0 or o != kept[i] for d, o in enumerate(outs)])
        labels = np.zeros(len(outs))
        labels[0] = 1.0
        c, o = syn0[ctx].astype(np.float64), syn1neg[outs].astype(np.float64)
        logits = c @ o.T
        signed = np.where(labels > 0, logits, -logits)
        loss += float(np.sum(np.logaddexp(0.0, -signed)[:, live]))
        g = (labels - 1.0 / (1.0 + np.exp(-logits))) * alpha
        g[:, ~live] = 0.0
        g[np.abs(logits) >= MAX_EXP] = 0.0
        np.add.at(syn0, ctx, (g @ o).astype(syn0.dtype))
        np.add.at(syn1neg, outs, (g.T @ c).astype(syn1neg.dtype))
    return loss


def cbow_sentence(sentence, syn0, syn1neg, sample_int, do_sample, accept, alias, window,
                  negative, alpha, rng: LCG) -> float:
    kept, reduced = _prepare(sentence, sample_int, do_sample, window, rng)
    loss = 0.0
    for i in range(len(kept)):
        lo, hi = _window(i, len(kept), window, reduced[i])
        ctx = [kept[j] for j in range(lo, hi) if j != i]
        if not ctx:
            continue
        neu1 = syn0[ctx].mean(axis=0)
        work, lss = ns_update(neu1, syn1neg, kept[i], negative, accept, alias, alpha, rng)
        for w in ctx:  # word2vec/gensim: the full error to every context row (cbow_mean=1)
            syn0[w] += work
        loss += lss
    return loss


def fasttext_sentence(sentence, syn0, syn0_ngrams, syn1neg, sub_offsets, sub_ids, sample_int,
                      do_sample, accept, alias, window, negative, alpha, rng: LCG) -> float:
    kept, reduced = _prepare(sentence, sample_int, do_sample, window, rng)
    loss = 0.0
    for i in range(len(kept)):
        w = kept[i]
        grams = sub_ids[sub_offsets[w]:sub_offsets[w + 1]]
        lo, hi = _window(i, len(kept), window, reduced[i])
        for j in range(lo, hi):
            if j == i:
                continue
            l1 = (syn0[w] + syn0_ngrams[grams].sum(axis=0)) / (1 + len(grams))
            work, lss = ns_update(l1, syn1neg, kept[j], negative, accept, alias, alpha, rng)
            syn0[w] += work
            for gid in grams:
                syn0_ngrams[gid] += work
            loss += lss
    return loss
