"""The shared embedding table's initial values: random, pretrained through the kernels on the
training split's own text (sg, cbow, fasttext), or read from a vectors file.

Rows the initialiser cannot fill (words missing from a vectors file) are uniform ±0.5/dim
from the run's seed (``oov_init="random"``) or zeros (the authors' choice); ``<pad>`` is zeros.
Pretrained tables are cached under the user cache, keyed by everything that determines them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import numpy as np

from mt2st.data.corpora import corpus_tokens
from mt2st.data.files import exclusive
from mt2st.data.sources import cache_dir
from mt2st.data.text import PAD, Vocabulary, encode_corpus
from mt2st.errors import ConfigError
from mt2st.kernels.tables import init_input
from mt2st.vectors import load_vectors


def _pretrain_key(config, vocab: Vocabulary, train_tokens: Sequence[Sequence[str]]) -> str:
    """The cache key of a pretrained table: every option that shapes it and the digest of every
    input it is trained on (the training text itself, and each user file by its content: a
    ``file:`` corpus or a ``tsv:``/``fasttext:`` dataset edited in place is a new table)."""
    from mt2st.config import file_digest

    text = hashlib.sha256()
    for sentence in train_tokens:
        text.update(" ".join(sentence).encode())
        text.update(b"\n")
    payload = {"dataset": config.dataset, "options": config.dataset_options,
               "data_seed": config.data_seed, "init": config.init,
               "dim": config.dim, "epochs": config.pretrain_epochs, "seed": config.seed,
               "extra": list(config.pretrain_extra),
               **({} if config.pretrain_own_text else {"own_text": False}),
               "vocab": hashlib.sha256(
                   "\n".join(vocab.words).encode()).hexdigest(),
               "train_text": text.hexdigest(),
               "files": {f: file_digest(f) for f in config.input_files()}}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def _pretrain(config, vocab: Vocabulary, train_tokens, data_dir, full_train_tokens,
              info: dict) -> np.ndarray:
    """The table ``config.init`` pretrains on the run's text (and ``pretrain_extra``)."""
    from mt2st.embed import train_embeddings

    sentences = list(train_tokens) if config.pretrain_own_text else []
    sentences += corpus_tokens(config.pretrain_extra, (), data_dir, full_train_tokens)
    if not any(sentences):
        raise ConfigError(f"init {config.init!r}: no pretraining text (pretrain_own_text "
                          f"is false and pretrain_extra is empty)")
    corpus = encode_corpus(sentences, vocab, unknown="drop")
    emb = train_embeddings(corpus, method=config.init, dim=config.dim,
                           epochs=config.pretrain_epochs, seed=config.seed + 1,
                           bucket=200_000, progress=False)
    info.update({"pretrain_seconds": emb.stats.seconds,
                 "pretrain_effective_words": emb.stats.effective_words})
    return emb.vectors


def initial_table(config, vocab: Vocabulary, train_tokens: Sequence[Sequence[str]],
                  data_dir=None, full_train_tokens: Sequence[Sequence[str]] = ()
                  ) -> tuple[np.ndarray, dict]:
    """(float32 table, info) for ``config.init`` over ``vocab`` (``full_train_tokens``: the
    corpus part ``train-full``, see corpora.corpus_tokens)."""
    table = init_input(len(vocab), config.dim, config.seed, 0.5 / config.dim)
    info: dict = {"init": config.init}
    if config.init == "random":
        pass
    elif config.init.startswith("vectors:"):
        path = config.init.split(":", 1)[1]
        vec = load_vectors(path)
        if vec.dim != config.dim:
            raise ConfigError(f"{path}: vectors have {vec.dim} dimensions, the run asks for "
                              f"dim={config.dim}")
        if config.oov_init == "zeros":
            table[:] = 0.0
        found = 0
        for i, word in enumerate(vocab.words):
            j = vec.index(word)
            if j >= 0:
                table[i] = vec.vectors[j]
                found += 1
        info.update({"vectors_file": path, "coverage": found / len(vocab)})
    else:
        key = _pretrain_key(config, vocab, train_tokens)
        cached = cache_dir() / "pretrained" / f"{key}.npy"
        cached.parent.mkdir(parents=True, exist_ok=True)
        # one process pretrains a table; another that needs it meanwhile (a sweep's second
        # worker on the same seed) waits for it instead of computing it again
        with exclusive(cached.with_suffix(".lock")):
            if cached.is_file():
                table = np.load(cached)
                info["cached"] = str(cached)
            else:
                table = _pretrain(config, vocab, train_tokens, data_dir, full_train_tokens, info)
                tmp = cached.with_suffix(f".{np.random.default_rng().integers(1 << 30)}.tmp.npy")
                np.save(tmp, table)
                tmp.replace(cached)
    pad = vocab.index(PAD)
    if pad >= 0:
        table[pad] = 0.0
    return np.ascontiguousarray(table, dtype=np.float32), info
