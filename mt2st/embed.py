"""Embedding pretraining (sg, cbow, fasttext) on top of the negative-sampling kernels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mt2st.data.text import EncodedCorpus, Vocabulary, encode_corpus
from mt2st.errors import ConfigError
from mt2st.kernels.problem import KERNELS, SGNSConfig, SGNSTables, SGNSWeights
from mt2st.vectors import Embeddings

BACKENDS = ("numba", "torch")


def prepare_corpus(corpus: EncodedCorpus | Iterable[Sequence[str]], min_count: int,
                   max_vocab_size: int | None = None) -> EncodedCorpus:
    """Encode token lists with a fresh vocabulary (min_count), or pass an encoded corpus on."""
    if isinstance(corpus, EncodedCorpus):
        return corpus
    if isinstance(corpus, str | bytes):
        raise ConfigError("corpus must be a list of token lists, not a string")
    sentences = []
    for s in corpus:
        if isinstance(s, str):
            raise ConfigError("corpus must be a list of token lists (got a list of strings; "
                              "tokenize each sentence first)")
        sentences.append(list(s))
    vocab = Vocabulary.build(sentences, min_count=min_count, max_size=max_vocab_size)
    return encode_corpus(sentences, vocab)


def train_embeddings(corpus: EncodedCorpus | Iterable[Sequence[str]], method: str = "sg",
                     dim: int = 100, window: int = 5, negative: int = 5, epochs: int = 5,
                     threads: int = 1, seed: int = 1, min_count: int = 5, sample: float = 1e-3,
                     alpha: float = 0.025, min_alpha: float = 0.0001, backend: str = "numba",
                     device: str = "cpu", kernel: str = "auto",
                     min_n: int = 3, max_n: int = 6, bucket: int = 2_000_000,
                     max_vocab_size: int | None = None, compute_loss: bool = False,
                     progress: bool | None = None) -> Embeddings:
    """Train word vectors with negative sampling; returns words, float32 vectors and stats.

    ``corpus`` is a list of token lists (as gensim takes it) or an :class:`EncodedCorpus`
    (whose vocabulary is used as is). ``stats`` reports raw and effective words/s.
    ``backend="numba"`` runs on the CPU with ``kernel`` "pairs" (gensim's rule; "auto") or
    "hogbatch" (skip-gram with noise words shared across a window, as small dense products);
    ``backend="torch"`` on ``device`` ("cpu" or "cuda") with ``kernel`` "batched" (small
    snapshot mini-batches of torch ops), "triton" (Hogwild skip-gram kernel, CUDA) or "auto"
    (triton for skip-gram on CUDA when installed).
    """
    config = SGNSConfig(method=method, dim=dim, window=window, negative=negative, epochs=epochs,
                        alpha=alpha, min_alpha=min_alpha, sample=sample, seed=seed,
                        threads=threads, min_n=min_n, max_n=max_n, bucket=bucket,
                        compute_loss=compute_loss)
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "numba" and device != "cpu":
        raise ConfigError(f"the numba backend runs on the CPU; use backend='torch' for {device!r}")
    if kernel not in KERNELS[backend]:
        raise ConfigError(f"kernel {kernel!r} is not one of the {backend} back end's "
                          f"{KERNELS[backend]}")
    encoded = prepare_corpus(corpus, min_count, max_vocab_size)
    if encoded.n_tokens == 0 or len(encoded.vocab) == 0:
        raise ConfigError(f"empty corpus: no token occurs at least min_count={min_count} times")
    words = encoded.vocab.words
    tables = SGNSTables.build(words, encoded.vocab.counts, config)
    weights = SGNSWeights.init(len(words), config)
    if backend == "numba":
        from mt2st.kernels.numba_backend import train_numba

        stats = train_numba(encoded.tokens, encoded.offsets, config, tables, weights, progress,
                            kernel)
    else:
        from mt2st.kernels.torch_backend import train_torch

        stats = train_torch(encoded.tokens, encoded.offsets, config, tables, weights, device,
                            progress, kernel=kernel)
    vectors = weights.word_vectors(tables.sub_offsets, tables.sub_ids)
    return Embeddings(list(words), vectors, stats)


__all__ = ["BACKENDS", "Embeddings", "prepare_corpus", "train_embeddings"]
