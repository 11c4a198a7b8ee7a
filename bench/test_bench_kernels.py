"""Kernel throughput: ours (numba: gensim's pair rule and HogBatch) beside gensim, same corpus,
same settings, same session.

    pytest bench/test_bench_kernels.py --benchmark-json=kernels.json

Each round trains one epoch of the shared corpus; effective words/s (after subsampling, as
gensim counts) goes into ``extra_info`` and the ratio table printed at the end.
"""

from __future__ import annotations

import time

import pytest

from bench.corpus import SMOKE, shared_sentences
from mt2st.embed import prepare_corpus
from mt2st.kernels.numba_backend import train_numba, warm_up
from mt2st.kernels.problem import SGNSConfig, SGNSTables, SGNSWeights

gensim = pytest.importorskip("gensim")

CASES = [(m, d, t) for m in ("sg", "cbow") for d in ((100,) if SMOKE else (100, 300)) for t in (1, 2)]


def _ours(method, dim, threads, kernel="pairs"):
    encoded = prepare_corpus(shared_sentences(), min_count=5)
    config = SGNSConfig(method=method, dim=dim, threads=threads, epochs=1)
    warm_up(config, kernel)
    tables = SGNSTables.build(encoded.vocab.words, encoded.vocab.counts, config)

    def run():
        weights = SGNSWeights.init(len(encoded.vocab), config)
        stats = train_numba(encoded.tokens, encoded.offsets, config, tables, weights, False,
                            kernel)
        return stats.effective_words, stats.raw_words, stats.seconds
    return run


def _hogbatch(method, dim, threads):
    return _ours(method, dim, threads, "hogbatch")


def _torch_cpu(method, dim, threads):
    import torch

    from mt2st.kernels.torch_backend import train_torch

    encoded = prepare_corpus(shared_sentences(), min_count=5)
    config = SGNSConfig(method=method, dim=dim, threads=threads, epochs=1)
    tables = SGNSTables.build(encoded.vocab.words, encoded.vocab.counts, config)

    def run():
        torch.set_num_threads(threads)
        weights = SGNSWeights.init(len(encoded.vocab), config)
        stats = train_torch(encoded.tokens, encoded.offsets, config, tables, weights, "cpu", False)
        return stats.effective_words, stats.raw_words, stats.seconds
    return run


def _gensim(method, dim, threads):
    sentences = [list(s) for s in shared_sentences()]

    def run():
        model = gensim.models.Word2Vec(vector_size=dim, window=5, negative=5, min_count=5,
                                       sample=1e-3, sg=int(method == "sg"), workers=threads,
                                       seed=1)
        model.build_vocab(sentences)
        t0 = time.perf_counter()
        effective, raw = model.train(sentences, total_examples=model.corpus_count, epochs=1)
        return effective, raw, time.perf_counter() - t0
    return run


@pytest.mark.parametrize("impl", ["numba", "numba-hogbatch", "gensim", "torch-cpu"])
@pytest.mark.parametrize(("method", "dim", "threads"), CASES)
def test_kernel_throughput(benchmark, ratio_table, impl, method, dim, threads):
    import numba

    if threads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip(f"needs {threads} threads")
    if impl == "torch-cpu" and dim != 100:
        pytest.skip("torch on the CPU: d=100 only (it is about 10x slower than numba here)")
    if impl == "numba-hogbatch" and method != "sg":
        pytest.skip("HogBatch is a skip-gram kernel")
    run = {"numba": _ours, "numba-hogbatch": _hogbatch, "gensim": _gensim,
           "torch-cpu": _torch_cpu}[impl](method, dim, threads)
    results = []
    rounds = 1 if SMOKE or impl == "torch-cpu" else 3
    benchmark.pedantic(lambda: results.append(run()), rounds=rounds, iterations=1)
    effective = sum(r[0] for r in results)
    seconds = sum(r[2] for r in results)
    benchmark.extra_info.update({
        "effective_words_per_s": effective / seconds,
        "raw_words_per_s": sum(r[1] for r in results) / seconds,
        "method": method, "dim": dim, "threads": threads})
    ratio_table[(method, dim, threads)][impl] = effective / seconds
