"""The torch backend: update-for-update equality with numba on pre-drawn batches, training
through the public API, quality next to numba, and CUDA tests that skip without a GPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mt2st.embed import prepare_corpus, train_embeddings
from mt2st.errors import ConfigError
from mt2st.kernels import numba_sgns as K
from mt2st.kernels.problem import SGNSConfig, SGNSTables, SGNSWeights
from mt2st.kernels.torch_backend import PairBatch, TorchSGNS

WORDS = tuple(f"w{i}" for i in range(30))
COUNTS = np.arange(60, 0, -2)
METHOD_ID = {"sg": 0, "cbow": 1, "fasttext": 2}
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _batch(method: str, rng: np.random.Generator, n_pairs: int = 200, negative: int = 5) -> PairBatch:
    targets = rng.integers(0, len(WORDS), n_pairs)
    negatives = rng.integers(0, len(WORDS), (n_pairs, negative))
    if method == "cbow":
        lengths = rng.integers(1, 7, n_pairs)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        return PairBatch(rng.integers(0, len(WORDS), offsets[-1]), targets, negatives, offsets)
    return PairBatch(rng.integers(0, len(WORDS), n_pairs), targets, negatives)


def _tables(method: str, seed: int = 0):
    config = SGNSConfig(method=method, dim=12, bucket=97, seed=seed)
    tables = SGNSTables.build(WORDS, COUNTS, config)
    weights = SGNSWeights.init(len(WORDS), config)
    weights.syn1neg[:] = np.random.default_rng(seed).normal(0, 0.3, weights.syn1neg.shape)
    return config, tables, weights


def _numba_apply(method, tables, weights, batch, alpha):
    offsets = batch.ctx_offsets if batch.ctx_offsets is not None else np.zeros(1, np.int64)
    return K.apply_pair_batch(METHOD_ID[method], weights.syn0, weights.syn0_ngrams, weights.syn1neg,
                              batch.inputs.astype(np.int64), offsets.astype(np.int64),
                              tables.sub_offsets, tables.sub_ids.astype(np.int64),
                              batch.targets.astype(np.int64), batch.negatives.astype(np.int64),
                              alpha, np.zeros_like(weights.syn0), np.zeros_like(weights.syn0_ngrams),
                              np.zeros_like(weights.syn1neg))


def _compare(method: str, device: str) -> None:
    rng = np.random.default_rng(5)
    config, tables, w_numba = _tables(method)
    _, _, w_torch = _tables(method)
    config = SGNSConfig(**{**config.__dict__, "compute_loss": True})
    runner = TorchSGNS(config, tables, w_torch, device)
    for _ in range(3):  # three consecutive batches
        batch = _batch(method, rng)
        loss_n = _numba_apply(method, tables, w_numba, batch, 0.05)
        loss_t = runner.apply_pair_batch(batch, 0.05)
        assert loss_t == pytest.approx(loss_n, rel=1e-4)
    runner.copy_back(w_torch)
    np.testing.assert_allclose(w_torch.syn0, w_numba.syn0, atol=1e-5)
    np.testing.assert_allclose(w_torch.syn1neg, w_numba.syn1neg, atol=1e-5)
    np.testing.assert_allclose(w_torch.syn0_ngrams, w_numba.syn0_ngrams, atol=1e-5)


@pytest.mark.parametrize("method", ["sg", "cbow", "fasttext"])
def test_same_predrawn_batch_same_tables_as_numba(method):
    _compare(method, "cpu")


def _corpus(n=600, seed=0):
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, 51)
    return [[f"t{i}" for i in rng.choice(50, rng.integers(3, 15), p=p / p.sum())] for _ in range(n)]


@pytest.mark.parametrize("method", ["sg", "cbow", "fasttext"])
def test_torch_cpu_trains_through_the_public_api(method):
    corpus = _corpus()
    e = train_embeddings(corpus, method=method, backend="torch", device="cpu", dim=16, epochs=2,
                         min_count=1, bucket=500, progress=False)
    assert e.vectors.shape == (50, 16) and e.vectors.dtype == np.float32
    assert np.isfinite(e.vectors).all()
    assert e.stats.raw_words == 2 * sum(len(s) for s in corpus)
    assert 0 < e.stats.effective_words <= e.stats.raw_words
    again = train_embeddings(corpus, method=method, backend="torch", device="cpu", dim=16,
                             epochs=2, min_count=1, bucket=500, progress=False)
    np.testing.assert_array_equal(e.vectors, again.vectors)  # seeded generator


@pytest.mark.parametrize("method", ["sg", "cbow"])
def test_torch_training_lowers_the_loss(method):
    """Mean SGNS loss per effective word over 6 epochs is below that of the first epoch."""
    corpus = _corpus(3000, seed=2)
    kw = dict(method=method, backend="torch", dim=16, min_count=1, compute_loss=True,
              progress=False)
    one = train_embeddings(corpus, epochs=1, **kw).stats
    six = train_embeddings(corpus, epochs=6, **kw).stats
    assert six.loss / six.effective_words < 0.97 * one.loss / one.effective_words


def test_large_batched_steps_lose_quality_small_ones_do_not():
    """Why the batched kernel's steps are small: on a 50-word corpus, 10,000-token snapshot
    steps sum so many updates of the same rows that skip-gram overshoots and ends with a far
    higher loss than with 500-token steps."""
    from mt2st.kernels.torch_backend import train_torch

    enc = prepare_corpus(_corpus(3000, seed=2), min_count=1)
    loss = {}
    for step in (500, 10_000):
        config = SGNSConfig(dim=16, epochs=6, compute_loss=True)
        tables = SGNSTables.build(enc.vocab.words, enc.vocab.counts, config)
        stats = train_torch(enc.tokens, enc.offsets, config, tables,
                            SGNSWeights.init(len(enc.vocab), config), step_tokens=step)
        loss[step] = stats.loss / stats.effective_words
    assert loss[500] < 0.8 * loss[10_000], loss


def _parity_scores(data_dir, **torch_options) -> tuple[np.ndarray, np.ndarray, dict]:
    """Skip-gram, d=100, 5 epochs on the shared corpus, seeds 1-3: mean (WS-353, SimLex-999)
    Spearman of the torch backend and of numba, and every score."""
    from mt2st.data import embedding_corpus, load_similarity_sets, tokenize
    from mt2st.metrics import similarity_spearman

    enc = prepare_corpus([tokenize(t) for t in embedding_corpus(data_dir)], min_count=5)
    sims = load_similarity_sets(data_dir)
    score = {"numba": [], "torch": []}
    for seed in (1, 2, 3):
        for name, kw in (("numba", {}), ("torch", dict(backend="torch", **torch_options))):
            e = train_embeddings(enc, seed=seed, dim=100, epochs=5, threads=2, progress=False,
                                 **kw)
            score[name].append([similarity_spearman(e.index, e.vectors, sims[k])[0]
                                for k in ("WS-353-ALL", "SIMLEX-999")])
    return np.mean(score["torch"], axis=0), np.mean(score["numba"], axis=0), score


@pytest.mark.heavy
def test_quality_parity_with_numba_on_the_shared_corpus(data_dir):
    """The issue's acceptance check (batched kernel, CPU): WS-353 and SimLex-999 Spearman
    within 0.03 of numba's, mean of 3 seeds."""
    ours, peer, score = _parity_scores(data_dir, device="cpu")
    assert peer[0] > 0.1 and peer[1] > 0.07, score  # the run learned something to compare
    assert np.all(np.abs(ours - peer) < 0.03), score


def test_bad_backend_and_device():
    with pytest.raises(ConfigError, match="backend must be one of"):
        train_embeddings(_corpus(20), backend="jax", min_count=1, progress=False)
    with pytest.raises(ConfigError, match="numba backend runs on the CPU"):
        train_embeddings(_corpus(20), device="cuda", min_count=1, progress=False)
    with pytest.raises(ConfigError, match="device must be cpu or cuda"):
        train_embeddings(_corpus(20), backend="torch", device="tpu", min_count=1, progress=False)
    config, tables, weights = _tables("cbow")
    with pytest.raises(ConfigError, match="skip-gram only"):
        TorchSGNS(config, tables, weights, "cpu", kernel="triton")
    with pytest.raises(ConfigError, match="kernel must be one of"):
        TorchSGNS(config, tables, weights, "cpu", kernel="fast")


@pytest.mark.cuda
@CUDA
@pytest.mark.parametrize("method", ["sg", "cbow", "fasttext"])
def test_cuda_same_predrawn_batch_same_tables_as_numba(method):
    _compare(method, "cuda")


@pytest.mark.cuda
@CUDA
def test_cuda_trains_through_the_public_api():
    e = train_embeddings(_corpus(2000), backend="torch", device="cuda", dim=32, epochs=2,
                         min_count=1, progress=False)
    assert np.isfinite(e.vectors).all() and e.stats.effective_words > 0


@pytest.mark.cuda
@CUDA
@pytest.mark.parametrize("kernel", ["auto", "batched"])
def test_cuda_quality_parity_with_numba(data_dir, kernel):
    """The parity check on the GPU (auto: the Triton kernel when triton is installed)."""
    ours, peer, score = _parity_scores(data_dir, device="cuda", kernel=kernel)
    assert np.all(np.abs(ours - peer) < 0.03), score
