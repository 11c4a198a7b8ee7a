"""The numba kernels against the numpy reference, gradients, determinism, tables, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from mt2st.embed import train_embeddings
from mt2st.errors import ConfigError
from mt2st.kernels import numba_sgns as K
from mt2st.kernels import reference as R
from mt2st.kernels.problem import SGNSConfig, SGNSTables, SGNSWeights
from mt2st.kernels.tables import alias_probabilities, noise_distribution

WORDS = tuple(f"w{i}" for i in range(12))
COUNTS = np.array([90, 60, 40, 30, 22, 15, 11, 8, 6, 4, 3, 2])
SENTENCES = [[0, 3, 1, 5, 0, 2, 7, 11, 4, 0, 9], [2, 2, 6, 1, 8, 10, 3], [5, 0]]


def _setup(method: str, sample: float = 1e-2, dim: int = 8, seed: int = 3):
    config = SGNSConfig(method=method, dim=dim, window=3, negative=4, sample=sample,
                        bucket=50, seed=seed)
    tables = SGNSTables.build(WORDS, COUNTS, config)
    weights = SGNSWeights.init(len(WORDS), config)
    rng = np.random.default_rng(seed)
    weights.syn1neg[:] = rng.normal(0, 0.3, weights.syn1neg.shape).astype(np.float32)
    weights.syn0[:] *= 50  # larger inputs so that every update is clearly non-zero
    if method == "fasttext":
        weights.syn0_ngrams[:] *= 50
    return config, tables, weights


def _encode(sentences):
    tokens = np.array([w for s in sentences for w in s], dtype=np.int32)
    offsets = np.cumsum([0] + [len(s) for s in sentences]).astype(np.int64)
    return tokens, offsets


def _scratch(config, n_buf=32):
    """One thread's buffers, sized for ``config`` (vectors padded past the dimension)."""
    dim, k1, contexts = config.dim, config.negative + 1, 2 * config.window
    return K.Scratch(work=np.zeros(dim + 16, np.float32), neu1=np.zeros(dim + 16, np.float32),
                     outs=np.zeros(k1, np.int64), logits=np.zeros(k1, np.float32),
                     grads=np.zeros((contexts, k1), np.float32),
                     deltas=np.zeros((contexts, dim), np.float32),
                     ctx=np.zeros(contexts, np.int64), buf=np.zeros(n_buf, np.int32),
                     red=np.zeros(n_buf, np.int64))


def _run_numba(method, config, tables, weights, sentences, alpha, state):
    tokens, offsets = _encode(sentences)
    sents = K.Sentences(tokens, offsets, tables.sample_int, config.sample > 0, config.window)
    rows = K.Rows(weights.syn0, weights.syn1neg, weights.syn0_ngrams, tables.sub_offsets,
                  tables.sub_ids)
    noise = K.Noise(tables.accept, tables.alias, config.negative)
    shard = {"sg": K.sg_shard, "sg-hogbatch": K.sg_hogbatch_shard, "cbow": K.cbow_shard,
             "fasttext": K.fasttext_shard}[method]
    return shard(sents, 0, len(sentences), rows, noise, (alpha, alpha), np.uint64(state),
                 _scratch(config), True)


def _run_reference(method, config, tables, weights, sentences, alpha, state):
    rng = R.LCG(state)
    common = (tables.sample_int, config.sample > 0, tables.accept, tables.alias, config.window,
              config.negative, alpha, rng)
    loss = 0.0
    for s in sentences:
        if method == "sg":
            loss += R.sg_sentence(s, weights.syn0, weights.syn1neg, *common)
        elif method == "sg-hogbatch":
            loss += R.sg_hogbatch_sentence(s, weights.syn0, weights.syn1neg, *common)
        elif method == "cbow":
            loss += R.cbow_sentence(s, weights.syn0, weights.syn1neg, *common)
        else:
            loss += R.fasttext_sentence(s, weights.syn0, weights.syn0_ngrams, weights.syn1neg,
                                        tables.sub_offsets, tables.sub_ids, *common)
    return rng.state, loss


@pytest.mark.parametrize("method", ["sg", "sg-hogbatch", "cbow", "fasttext"])
@pytest.mark.parametrize("sample", [0.0, 1e-2])
@pytest.mark.parametrize("n_sentences", [1, 3])
def test_numba_equals_reference(method, sample, n_sentences):
    """Each numba kernel draws the same randoms as its numpy reference (the final LCG state)
    and gives the same tables within float32 tolerance, one thread, fixed seed."""
    config, tables, w_numba = _setup(method.split("-")[0], sample)
    _, _, w_ref = _setup(method.split("-")[0], sample)
    before = w_numba.syn0.copy()
    sentences = SENTENCES[:n_sentences]
    state, eff, loss = _run_numba(method, config, tables, w_numba, sentences, 0.05, 987654321)
    ref_state, ref_loss = _run_reference(method, config, tables, w_ref, sentences, 0.05, 987654321)
    assert int(state) == ref_state  # the same random numbers were drawn
    np.testing.assert_allclose(w_numba.syn0, w_ref.syn0, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(w_numba.syn1neg, w_ref.syn1neg, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(w_numba.syn0_ngrams, w_ref.syn0_ngrams, atol=1e-5, rtol=1e-5)
    assert loss == pytest.approx(ref_loss, rel=1e-4)
    assert np.abs(w_numba.syn0 - before).max() > 1e-4  # the updates really happened
    if sample == 0:
        assert eff == sum(len(s) for s in sentences)


def _numeric_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        d = np.zeros_like(x)
        d.flat[i] = eps
        g.flat[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return g


def _replay_targets(state, accept, alias, negative, avoid):
    probe = R.LCG(state)
    negs = [probe.noise(accept, alias) for _ in range(negative)]
    return [n for n in negs if n != avoid]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ns_update_follows_the_loss_gradient(seed):
    """With distinct targets, the kernel's update is exactly -alpha * dL/d(parameters)."""
    rng = np.random.default_rng(seed)
    dim, alpha = 6, 0.01
    l1 = rng.normal(0, 0.5, dim)
    syn1neg = rng.normal(0, 0.5, (12, dim))
    accept, alias = np.ones(12), np.arange(12, dtype=np.int32)  # uniform noise
    target = 5
    state = next(st for st in range(424242 + seed, 425242)  # distinct negatives, none the target
                 if len(set(_replay_targets(st, accept, alias, 3, target))) == 3)
    negs = _replay_targets(state, accept, alias, 3, target)
    rows = [target, *negs]
    labels = np.array([1.0, 0.0, 0.0, 0.0])

    work = np.zeros(dim + 4, np.float32)
    s1 = syn1neg.astype(np.float32)
    K.ns_update(l1.astype(np.float32), s1, target, accept, alias, 3, alpha, work,
                np.zeros(4, np.int64), np.zeros(4, np.float32), np.uint64(state), False)

    grad_l1 = _numeric_grad(lambda x: R.sgns_loss(x, syn1neg[rows], labels), l1)
    np.testing.assert_allclose(work[:dim], -alpha * grad_l1, atol=1e-6)
    for r in rows:
        def loss_r(u, r=r):
            out = syn1neg[rows].copy()
            out[rows.index(r)] = u
            return R.sgns_loss(l1, out, labels)
        g = _numeric_grad(loss_r, syn1neg[r])
        np.testing.assert_allclose(s1[r] - syn1neg[r], -alpha * g, atol=1e-6)


@pytest.mark.parametrize("method", ["cbow", "fasttext"])
def test_composite_inputs_follow_the_loss_gradient(method):
    """CBOW's input is the mean of n context rows, fastText's the mean of a word row and its
    n-gram rows. Each of those rows receives the full -alpha * dL/dl1, that is n times its own
    gradient step (word2vec's and fastText's convention): checked by finite differences."""
    rng = np.random.default_rng(11)
    dim, alpha, negative = 5, 0.01, 2
    syn0 = rng.normal(0, 0.5, (10, dim)).astype(np.float32)
    grams = rng.normal(0, 0.5, (6, dim)).astype(np.float32)
    syn1neg = rng.normal(0, 0.5, (10, dim)).astype(np.float32)
    accept, alias = np.ones(10), np.arange(10, dtype=np.int32)
    target = 4
    state = next(st for st in range(1, 1000)  # a draw with distinct negatives, none the target
                 if len(set(_replay_targets(st, accept, alias, negative, target))) == negative)
    negs = _replay_targets(state, accept, alias, negative, target)
    rows_out = [target, *negs]
    labels = np.array([1.0] + [0.0] * len(negs))
    noise = K.Noise(accept, alias, negative)
    s0, g0, s1 = syn0.astype(np.float64), grams.astype(np.float64), syn1neg.astype(np.float64)
    if method == "cbow":
        buf = np.array([1, target, 2, 3], dtype=np.int32)  # context rows 1, 2, 3 around pos 1
        scratch = _scratch(SGNSConfig(dim=dim, negative=negative))._replace(buf=buf)
        rows = K.Rows(syn0, syn1neg, grams, np.zeros(11, np.int64), np.zeros(0, np.int32))
        K.cbow_position(rows, 0, 4, 1, noise, alpha, scratch, np.uint64(state), False)
        members = [(syn0, s0, r) for r in (1, 2, 3)]

        def loss_of(table, r, x):
            t = s0.copy()
            t[r] = x
            return R.sgns_loss(t[[1, 2, 3]].mean(axis=0), s1[rows_out],
                               labels)
    else:
        sub_ids = np.array([0, 3, 5], dtype=np.int32)
        sub_offsets = np.array([0] * 8 + [3] * 3, dtype=np.int64)  # word 7: ids [0, 3)
        rows = K.Rows(syn0, syn1neg, grams, sub_offsets, sub_ids)
        K.fasttext_pair(rows, 7, target, noise, alpha, _scratch(SGNSConfig(dim=dim, negative=negative)),
                        np.uint64(state), False)
        members = [(syn0, s0, 7)] + [(grams, g0, r) for r in (0, 3, 5)]

        def loss_of(table, r, x):
            w, g = s0.copy(), g0.copy()
            (w if table is syn0 else g)[r] = x
            l1 = (w[7] + g[[0, 3, 5]].sum(axis=0)) / 4
            return R.sgns_loss(l1, s1[rows_out], labels)
    n = len(members)
    for table, orig, r in members:
        grad = _numeric_grad(lambda x, table=table, r=r: loss_of(table, r, x), orig[r])
        np.testing.assert_allclose(table[r] - orig[r], -alpha * n * grad, atol=1e-6)


def test_hogbatch_step_follows_the_window_loss_gradient():
    """One HogBatch step is -alpha times the gradient of the whole window's loss
    L = Σ_contexts Σ_outputs softplus(∓ c·o) at the rows before the step: shared noise words,
    every context row and every output row moved by its own gradient (finite differences)."""
    rng = np.random.default_rng(5)
    dim, alpha, negative = 5, 0.01, 3
    syn0 = rng.normal(0, 0.5, (12, dim)).astype(np.float32)
    syn1neg = rng.normal(0, 0.5, (12, dim)).astype(np.float32)
    accept, alias = np.ones(12), np.arange(12, dtype=np.int32)
    target = 6
    state = next(st for st in range(1, 1000)
                 if len(set(_replay_targets(st, accept, alias, negative, target))) == negative)
    outs = [target, *_replay_targets(state, accept, alias, negative, target)]
    buf = np.array([1, 2, target, 3, 4], dtype=np.int32)  # centre at position 2
    contexts = [1, 2, 3, 4]
    labels = np.array([1.0] + [0.0] * negative)
    s0, s1 = syn0.astype(np.float64), syn1neg.astype(np.float64)

    def window_loss(t0, t1):
        return sum(R.sgns_loss(t0[c], t1[outs], labels) for c in contexts)

    rows = K.Rows(syn0, syn1neg, np.zeros((0, dim), np.float32), np.zeros(13, np.int64),
                  np.zeros(0, np.int32))
    scratch = _scratch(SGNSConfig(dim=dim, negative=negative, window=2))._replace(buf=buf)
    K.hogbatch_centre(rows, 0, 5, 2, K.Noise(accept, alias, negative), alpha, scratch,
                      np.uint64(state), False)
    for r in contexts:
        def in_r(x, r=r):
            t = s0.copy()
            t[r] = x
            return window_loss(t, s1)
        np.testing.assert_allclose(syn0[r] - s0[r], -alpha * _numeric_grad(in_r, s0[r]), atol=1e-6)
    for r in outs:
        def out_r(x, r=r):
            t = s1.copy()
            t[r] = x
            return window_loss(s0, t)
        np.testing.assert_allclose(syn1neg[r] - s1[r], -alpha * _numeric_grad(out_r, s1[r]),
                                   atol=1e-6)
    untouched = [r for r in range(12) if r not in contexts]
    np.testing.assert_array_equal(syn0[untouched], s0[untouched].astype(np.float32))


def test_noise_table_follows_count_power():
    probs = noise_distribution(COUNTS)
    np.testing.assert_allclose(probs, COUNTS ** 0.75 / np.sum(COUNTS ** 0.75), rtol=1e-12)
    config = SGNSConfig()
    tables = SGNSTables.build(WORDS, COUNTS, config)
    np.testing.assert_allclose(alias_probabilities(tables.accept, tables.alias), probs, atol=1e-12)
    rng = R.LCG(2024)
    draws = np.bincount([rng.noise(tables.accept, tables.alias) for _ in range(60000)],
                        minlength=len(COUNTS))
    assert chisquare(draws, probs * draws.sum()).pvalue > 1e-3


def _token_corpus(n=400, seed=0):
    rng = np.random.default_rng(seed)
    vocab = [f"t{i}" for i in range(40)]
    p = 1.0 / np.arange(1, 41)
    p /= p.sum()
    return [[vocab[i] for i in rng.choice(40, rng.integers(3, 15), p=p)] for _ in range(n)]


@pytest.mark.parametrize("method", ["sg", "sg-hogbatch", "cbow", "fasttext"])
def test_one_thread_is_deterministic_and_shapes(method):
    corpus = _token_corpus()
    method, _, kernel = method.partition("-")
    kw = dict(method=method, dim=16, epochs=2, min_count=1, threads=1, bucket=1000,
              progress=False, kernel=kernel or "auto")
    a = train_embeddings(corpus, seed=7, **kw)
    b = train_embeddings(corpus, seed=7, **kw)
    c = train_embeddings(corpus, seed=8, **kw)
    assert a.vectors.dtype == np.float32 and a.vectors.shape == (40, 16)
    assert a.vectors.flags.c_contiguous and len(a.words) == 40
    assert np.array_equal(a.vectors, b.vectors)
    assert not np.array_equal(a.vectors, c.vectors)
    assert a.stats.raw_words == 2 * sum(len(s) for s in corpus)
    assert 0 < a.stats.effective_words <= a.stats.raw_words


def test_two_threads_train_and_count_all_words():
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread here")
    corpus = _token_corpus(800)
    for kernel in ("pairs", "hogbatch"):
        e = train_embeddings(corpus, dim=16, epochs=2, min_count=1, threads=2, sample=0,
                             progress=False, kernel=kernel)
        assert np.isfinite(e.vectors).all()
        assert e.stats.effective_words == e.stats.raw_words == 2 * sum(len(s) for s in corpus)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"dim": 0}, "dim must be >= 1"),
    ({"negative": 0}, "negative must be >= 1"),
    ({"window": 0}, "window must be >= 1"),
    ({"method": "glove"}, "method must be one of"),
    ({"alpha": -1.0}, "alpha > 0"),
    ({"kernel": "triton"}, r"kernel 'triton' is not one of the numba back end's"),
    ({"kernel": "hogbatch", "method": "cbow"}, "implements skip-gram only, not 'cbow'"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        train_embeddings(_token_corpus(20), min_count=1, progress=False, **kwargs)


def test_empty_corpus_and_strings():
    with pytest.raises(ConfigError, match="empty corpus"):
        train_embeddings([], progress=False)
    with pytest.raises(ConfigError, match="empty corpus"):
        train_embeddings([["rare"]], min_count=5, progress=False)
    with pytest.raises(ConfigError, match="token lists"):
        train_embeddings(["a sentence as a string"], progress=False)
