"""The data layer: datasets by name, lexical resources, and text-to-array encoding."""

from __future__ import annotations

from pathlib import Path

from mt2st.data.corpora import (
    Split,
    TextDataset,
    embedding_corpus,
    load_fasttext_file,
    load_imdb,
    load_mr,
    load_sst2,
    load_tsv_file,
    load_wikitext2,
    stratified_split,
)
from mt2st.data.lexical import (
    AnalogySet,
    SimilaritySet,
    load_analogy,
    load_google_analogy,
    load_similarity,
    load_similarity_sets,
    split_analogy,
    split_similarity,
)
from mt2st.data.resample import RESAMPLE_OPTIONS, resample, stratified_draw
from mt2st.data.sources import ENV_VAR, RESOURCES, locate, search_dirs
from mt2st.data.synthetic import SyntheticData, make_synthetic
from mt2st.data.text import (
    TOKEN_PATTERN,
    EncodedCorpus,
    Vocabulary,
    encode_corpus,
    oov_rate,
    tokenize,
)
from mt2st.errors import ConfigError, check_keys

#: Datasets known by plain name; ``fasttext:PATH`` and ``tsv:PATH`` name users' own files.
DATASETS = ("sst2", "mr", "imdb", "synthetic")


def load_dataset(name: str, data_dir: str | Path | None = None, seed: int = 0,
                 **options) -> TextDataset:
    """Load a labelled dataset by name: sst2, mr, imdb, synthetic, fasttext:PATH or tsv:PATH.

    Every dataset takes ``subsample``, ``fractions`` and ``train_size`` (see
    :func:`mt2st.data.resample.resample`, drawn with ``seed``); other ``options`` go to the
    loader (e.g. sizes for synthetic).
    """
    draws = {k: options.pop(k) for k in RESAMPLE_OPTIONS if k in options}
    return resample(_load(name, data_dir, seed, options), seed, **draws)


def _load(name: str, data_dir, seed: int, options: dict) -> TextDataset:
    kind, _, path = name.partition(":")
    if kind in ("fasttext", "tsv"):
        if not path:
            raise ConfigError(f"dataset {name!r}: give a path, e.g. {kind}:reviews.txt")
        loader = load_fasttext_file if kind == "fasttext" else load_tsv_file
        return _call(name, loader, options, path, seed=seed)
    if path:
        raise ConfigError(f"dataset {name!r}: only fasttext: and tsv: take a path")
    if kind == "sst2":
        return _call(name, load_sst2, options, data_dir)
    if kind == "mr":
        return _call(name, load_mr, options, data_dir, seed=seed)
    if kind == "imdb":
        return _call(name, load_imdb, options, data_dir, seed=seed)
    if kind == "synthetic":
        return _call(name, make_synthetic, options, seed=seed).dataset
    raise ConfigError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}, "
                      f"fasttext:PATH, tsv:PATH")


def _call(name: str, loader, options: dict, *args, **fixed):
    """The loader with the user's ``dataset_options``: an option it does not take, or a value
    of the wrong type, is a ConfigError naming the dataset and the option."""
    import inspect

    takes = [p for p in inspect.signature(loader).parameters
             if p not in ("data_dir", "seed", "path", *RESAMPLE_OPTIONS)] + list(RESAMPLE_OPTIONS)
    check_keys(options, takes, f"dataset {name!r}: option")
    try:
        return loader(*args, **fixed, **options)
    except TypeError as exc:
        raise ConfigError(f"dataset {name!r}: dataset_options {options}: {exc}") from None


__all__ = [
    "DATASETS", "ENV_VAR", "RESOURCES", "TOKEN_PATTERN", "AnalogySet", "EncodedCorpus",
    "embedding_corpus", "load_wikitext2",
    "SimilaritySet", "Split", "SyntheticData", "TextDataset", "Vocabulary", "encode_corpus",
    "load_analogy", "load_dataset", "load_google_analogy", "load_imdb", "load_mr",
    "load_similarity", "load_similarity_sets", "load_sst2", "locate", "make_synthetic",
    "oov_rate", "resample", "search_dirs", "split_analogy", "split_similarity", "stratified_draw",
    "stratified_split", "tokenize",
]
