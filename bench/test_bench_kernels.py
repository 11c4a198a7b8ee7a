"""Kernel throughput: ours (numba) beside gensim, same corpus, same settings, same session.

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


def _ours(method, dim, threads):
    encoded = prepare_corpus(shared_sentences(), min_count=5)
    config = SGNSConfig(method=method, dim=dim, threads=threads, epochs=1)
    warm_up(config)
    tables = SGNSTables.build(encoded.vocab.words, encoded.vocab.counts, config)

    def run():
        weights = SGNSWeights.init(len(encoded.vocab), config)
        stats = train_numba(encoded.tokens, encoded.offsets, config, tables, weights, False)
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


@pytest.mark.parametrize("impl", ["numba", "gensim"])
@pytest.mark.parametrize(("method", "dim", "threads"), CASES)
def test_kernel_throughput(benchmark, ratio_table, impl, method, dim, threads):
    import numba

    if threads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip(f"needs {threads} threads")
    run = (_ours if impl == "numba" else _gensim)(method, dim, threads)
    results = []
    benchmark.pedantic(lambda: results.append(run()), rounds=1 if SMOKE else 3, iterations=1)
    effective = sum(r[0] for r in results)
    seconds = sum(r[2] for r in results)
    benchmark.extra_info.update({
        "effective_words_per_s": effective / seconds,
        "raw_words_per_s": sum(r[1] for r in results) / seconds,
        "method": method, "dim": dim, "threads": threads})
    ratio_table[(method, dim, threads)][impl] = effective / seconds
