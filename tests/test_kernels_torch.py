"""The torch backend: update-for-update equality with numba on pre-drawn batches, training
through the public API, quality next to numba, and CUDA tests that skip without a GPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mt2st.embed import train_embeddings
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


@pytest.mark.parametrize("method", [
    pytest.param("sg", marks=pytest.mark.xfail(strict=True, reason=(
        "known limitation: snapshot mini-batches sum the updates of a row that occurs many times "
        "in one step; on this 50-word corpus skip-gram overshoots and diverges"))),
    "cbow"])
def test_torch_training_lowers_the_loss(method):
    """Mean SGNS loss per effective word over 6 epochs is below that of the first epoch."""
    corpus = _corpus(3000, seed=2)
    kw = dict(method=method, backend="torch", dim=16, min_count=1, compute_loss=True,
              progress=False)
    one = train_embeddings(corpus, epochs=1, **kw).stats
    six = train_embeddings(corpus, epochs=6, **kw).stats
    assert six.loss / six.effective_words < 0.97 * one.loss / one.effective_words


def test_bad_backend_and_device():
    with pytest.raises(ConfigError, match="backend must be one of"):
        train_embeddings(_corpus(20), backend="jax", min_count=1, progress=False)
    with pytest.raises(ConfigError, match="numba backend runs on the CPU"):
        train_embeddings(_corpus(20), device="cuda", min_count=1, progress=False)
    with pytest.raises(ConfigError, match="device must be cpu or cuda"):
        train_embeddings(_corpus(20), backend="torch", device="tpu", min_count=1, progress=False)


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
