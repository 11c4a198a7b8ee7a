"""Re-drawing a loaded dataset, the same way for every dataset: a stratified subsample of all
its examples split by fractions (the authors' 1,000 sentences split 750/250), a re-split of
all examples, or a stratified draw of the training split alone (a training-size regime that
keeps the official validation and test sets). Every draw uses the data seed."""

from __future__ import annotations

import math

import numpy as np

from mt2st.data.corpora import Split, TextDataset, stratified_split
from mt2st.errors import ConfigError

#: the dataset options every dataset takes (load_dataset applies them after the loader)
RESAMPLE_OPTIONS = ("subsample", "fractions", "train_size")
#: the authors' split of a subsample: 75 % train, 25 % test, validation = test
SUBSAMPLE_FRACTIONS = (0.75, 0.0, 0.25)


def stratified_draw(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of ``n`` items whose label shares match ``labels``' (largest remainders
    decide the rounding), drawn without replacement with ``seed``."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * n / counts.sum()
    take = np.floor(quota).astype(int)
    for c in np.argsort(-(quota - take), kind="stable")[: n - take.sum()]:
        take[c] += 1
    picked = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take, strict=True)]
    return np.sort(np.concatenate(picked))


def pooled(ds: TextDataset) -> Split:
    """All examples of a dataset once (a validation split that aliases test counts once)."""
    parts = [ds.train, ds.validation, ds.test] if ds.validation is not ds.test else [ds.train, ds.test]
    return Split(tuple(t for p in parts for t in p.texts), np.concatenate([p.labels for p in parts]))


def resample(ds: TextDataset, seed: int, subsample: int | None = None,
             fractions: tuple[float, float, float] | list[float] | None = None,
             train_size: int | None = None) -> TextDataset:
    """``subsample=N``: N examples of the pooled dataset, stratified by label, split by
    ``fractions`` (default 0.75/0/0.25); ``fractions`` alone: the pooled dataset re-split;
    ``train_size=N``: N training examples, stratified, validation and test unchanged. A
    validation fraction of 0 makes the validation split the test split (the authors' protocol),
    and the dataset's notes say so."""
    if subsample is None and fractions is None and train_size is None:
        return ds
    if train_size is not None and (subsample is not None or fractions is not None):
        raise ConfigError(f"dataset {ds.name!r}: train_size draws from the training split and "
                          f"keeps validation and test; it does not combine with subsample or fractions")
    notes = list(ds.notes)
    if train_size is not None:
        n = _count("train_size", train_size, len(ds.train), ds.name)
        train = ds.train.take(stratified_draw(ds.train.labels, n, seed))
        notes.append(f"train_size {n}: stratified draw from {len(ds.train)} training examples, seed {seed}")
        return TextDataset(ds.name, ds.label_names, train, ds.validation, ds.test, tuple(notes))
    pool = pooled(ds)
    if subsample is not None:
        n = _count("subsample", subsample, len(pool), ds.name)
        pool = pool.take(stratified_draw(pool.labels, n, seed))
        notes.append(f"subsample {n} of all examples, stratified by label, seed {seed}")
    try:
        fractions = tuple(float(f) for f in (fractions or SUBSAMPLE_FRACTIONS))
    except (TypeError, ValueError):
        raise ConfigError(f"dataset {ds.name!r}: fractions must be three numbers (train, "
                          f"validation, test), got {fractions!r}") from None
    if len(fractions) != 3 or not all(math.isfinite(f) and f >= 0 for f in fractions):
        raise ConfigError(f"dataset {ds.name!r}: split fractions must be three non-negative numbers "
                          f"summing to 1 (finite), got {fractions}")
    train, validation, test = stratified_split(pool, fractions, seed)
    notes.append(f"split {fractions} (train, validation, test), stratified, seed {seed}")
    if len(validation) == 0:
        validation = test
        notes.append("validation fraction 0: the validation split is the test split")
    if len(train) == 0 or len(test) == 0:
        raise ConfigError(f"dataset {ds.name!r}: fractions {fractions} of {len(pool)} examples "
                          f"leave an empty training or test split")
    return TextDataset(ds.name, ds.label_names, train, validation, test, tuple(notes))


def _count(option: str, value, available: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 < value <= available:
        raise ConfigError(f"dataset {name!r}: {option} must be a whole number in 1..{available}, "
                          f"got {value!r}")
    return int(value)
