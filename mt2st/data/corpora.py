"""Labelled text datasets: each loader returns train / validation / test splits of (text, label)."""

from __future__ import annotations

import csv
import functools
import html
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mt2st.data.files import numbered_lines, read_text, read_tsv
from mt2st.data.lexical import split_indices
from mt2st.data.sources import locate
from mt2st.data.text import tokenize
from mt2st.errors import ConfigError, DataFormatError, DataNotFoundError

TEXT_COLUMNS = ("sentence", "content", "text", "review")
LABEL_COLUMNS = ("label", "sentiment")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)


@dataclass(frozen=True)
class Split:
    """Texts with integer labels (indices into the dataset's ``label_names``)."""

    texts: tuple[str, ...]
    labels: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, idx: np.ndarray) -> Split:
        return Split(tuple(self.texts[i] for i in idx), self.labels[idx])

    def label_counts(self, n_labels: int) -> np.ndarray:
        return np.bincount(self.labels, minlength=n_labels)


@dataclass(frozen=True)
class TextDataset:
    """A classification dataset with its three splits and provenance notes."""

    name: str
    label_names: tuple[str, ...]
    train: Split
    validation: Split
    test: Split
    notes: tuple[str, ...] = field(default=())

    @property
    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


def stratified_split(data: Split, fractions: tuple[float, float, float], seed: int
                     ) -> tuple[Split, Split, Split]:
    """Deterministic stratified split into train / validation / test by ``fractions``."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ConfigError(f"split fractions must be three non-negative numbers summing to 1, "
                          f"got {fractions}")
    rest, test = split_indices(len(data), fractions[2], seed, groups=data.labels)
    sub = data.take(rest)
    val_share = fractions[1] / (fractions[0] + fractions[1]) if fractions[1] else 0.0
    tr, va = split_indices(len(sub), val_share, seed + 1, groups=sub.labels)
    return sub.take(tr), sub.take(va), data.take(test)


def _pick(header: list[str], names: tuple[str, ...], path: Path, what: str) -> int:
    for n in names:
        if n in header:
            return header.index(n)
    raise DataFormatError(path, 1, f"header {header} has no {what} column",
                          f"one of {list(names)}")


def canonical_label(raw: str) -> str:
    """A label as one spelling: whitespace stripped, and numbers written as integers where
    they are whole (``1``, ``1.0`` and `` 1 `` are one class)."""
    text = raw.strip()
    try:
        value = float(text)
    except ValueError:
        return text
    return str(int(value)) if value.is_integer() else text


def read_labelled_tsv(path: Path, label_map: dict[str, int] | None = None,
                      encoding: str = "utf-8") -> tuple[Split, dict[str, int]]:
    """Read a header-row TSV, finding the label and text columns by name.

    With ``label_map`` every label must be one of its keys; without, labels are collected.
    """
    header, rows = read_tsv(path, encoding)
    li = _pick(header, LABEL_COLUMNS, path, "label")
    ti = _pick(header, TEXT_COLUMNS, path, "text")
    mapping = dict(label_map) if label_map is not None else {}
    texts, labels = [], []
    canonical: dict[str, str] = {}  # a file spells its few labels the same way on most rows
    for number, cells in rows:
        if (cells[li].strip().lower() == header[li]
                and [c.strip().lower() for c in cells] == header):
            continue  # a repeated header line (concatenated files) is not data
        raw = canonical.get(cells[li])
        if raw is None:
            raw = canonical[cells[li]] = canonical_label(cells[li])
        if not raw:  # would become a class named ''
            raise DataFormatError(path, number, "an empty label cell", "a label in every row")
        if raw not in mapping:
            if label_map is not None:
                raise DataFormatError(path, number, f"unknown label {raw!r}",
                                      f"one of {sorted(label_map)}")
            mapping[raw] = -1
        texts.append(cells[ti].strip())
        labels.append(raw)
    if not labels:
        raise DataFormatError(path, None, "every row repeats the header", "at least one data row")
    if label_map is None:  # deterministic order: sorted label strings
        mapping = {lab: i for i, lab in enumerate(sorted(mapping))}
    return Split(tuple(texts), np.array([mapping[x] for x in labels], dtype=np.int64)), mapping


def load_sst2(data_dir: str | Path | None = None) -> TextDataset:
    """SST-2: ``train.tsv`` / ``dev.tsv`` / ``test.tsv`` with labels 0 (negative), 1 (positive)."""
    folder = locate("sst2", data_dir)
    labels = {"0": 0, "1": 1}
    splits = [read_labelled_tsv(folder / f, labels)[0] for f in ("train.tsv", "dev.tsv", "test.tsv")]
    return TextDataset("sst2", ("negative", "positive"), *splits)


def load_mr(data_dir: str | Path | None = None, seed: int = 0,
            fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> TextDataset:
    """MR (Pang & Lee): Latin-1 ``rt-polarity.neg/.pos``, stratified split by ``seed``."""
    folder = locate("mr", data_dir)
    texts, labels = [], []
    for label, fname in enumerate(("rt-polarity.neg", "rt-polarity.pos")):
        for _, line in numbered_lines(folder / fname, encoding="latin-1"):
            texts.append(line.strip())
            labels.append(label)
    full = Split(tuple(texts), np.array(labels, dtype=np.int64))
    return TextDataset("mr", ("negative", "positive"), *stratified_split(full, fractions, seed),
                       notes=(f"stratified {fractions} split, seed {seed}",))


def _clean_review(text: str) -> str:
    return html.unescape(_BR.sub(" ", text)).strip()


def _read_aclimdb(root: Path) -> tuple[Split, Split]:
    out = []
    for part in ("train", "test"):
        texts, labels = [], []
        for label, sub in enumerate(("neg", "pos")):
            folder = root / part / sub
            if not folder.is_dir():
                raise DataNotFoundError(f"{folder}: missing (aclImdb layout needs "
                                        f"train/pos, train/neg, test/pos, test/neg)")
            files = sorted(folder.glob("*.txt"))
            for f in tqdm(files, desc=f"aclImdb {part}/{sub}", leave=False, disable=None):
                texts.append(_clean_review(read_text(f)))
                labels.append(label)
        out.append(Split(tuple(texts), np.array(labels, dtype=np.int64)))
    return out[0], out[1]


def _read_imdb_csv(path: Path) -> Split:
    text = read_text(path)
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader)]
    if header != ["review", "sentiment"]:
        raise DataFormatError(path, 1, f"header {header}", "'review,sentiment'")
    mapping = {"negative": 0, "positive": 1}
    texts, labels = [], []
    for row in reader:
        if not row:
            continue
        number = reader.line_num
        if len(row) != 2:
            raise DataFormatError(path, number, f"{len(row)} columns", "2 columns: review,sentiment")
        lab = row[1].strip().lower()
        if lab not in mapping:
            raise DataFormatError(path, number, f"unknown label {row[1]!r}", "positive or negative")
        texts.append(_clean_review(row[0]))
        labels.append(mapping[lab])
    if not texts:
        raise DataFormatError(path, None, "no reviews", "at least one 'review,sentiment' row")
    return Split(tuple(texts), np.array(labels, dtype=np.int64))


def load_imdb(data_dir: str | Path | None = None, seed: int = 0) -> TextDataset:
    """IMDB from the aclImdb layout (its train/test, validation 10 % of train) or the 50k-review
    CSV (split 0.8/0.1/0.1), ``<br />`` stripped. Subsamples (the authors' 1,000 reviews) are
    ``load_dataset``'s ``subsample`` option, as for every dataset."""
    csv_name = "IMDB Dataset.csv"
    folder = locate("imdb", data_dir, accept=lambda f: (f / csv_name).is_file()
                    or (f / "aclImdb").is_dir())
    notes = []
    if (folder / "aclImdb").is_dir():
        train, test = _read_aclimdb(folder / "aclImdb")
        full = Split(train.texts + test.texts, np.concatenate([train.labels, test.labels]))
        notes.append("source: aclImdb directory layout")
    else:
        full = _read_imdb_csv(folder / csv_name)
        train = test = None
        notes.append("source: 50k-review CSV")
    if train is not None:
        tr, va = split_indices(len(train), 0.1, seed, groups=train.labels)
        notes.append(f"validation: 10% of aclImdb train, stratified, seed {seed}")
        return TextDataset("imdb", ("negative", "positive"), train.take(tr), train.take(va), test,
                           notes=tuple(notes))
    tr, va, te = stratified_split(full, (0.8, 0.1, 0.1), seed)
    return TextDataset("imdb", ("negative", "positive"), tr, va, te, notes=tuple(notes))


def _own_file(path: str, reader, seed: int, fractions) -> TextDataset:
    """A user's file, or a folder of train/dev|valid/test files, in a given format."""
    p = Path(path).expanduser()
    if p.is_dir():
        found = {}
        for role, stems in (("train", ("train",)), ("validation", ("dev", "valid", "validation")),
                            ("test", ("test",))):
            cands = [f for s in stems for f in sorted(p.glob(s + ".*"))]
            if not cands:
                raise DataNotFoundError(f"{p}: no {role} file (looked for {stems})")
            found[role] = cands[0]
        train, mapping = reader(found["train"], None)
        val, _ = reader(found["validation"], mapping)
        test, _ = reader(found["test"], mapping)
        return TextDataset(str(p), tuple(mapping), train, val, test)
    full, mapping = reader(p, None)
    return TextDataset(str(p), tuple(mapping), *stratified_split(full, fractions, seed),
                       notes=(f"stratified {fractions} split, seed {seed}",))


def read_fasttext(path: Path, label_map: dict[str, int] | None = None,
                  encoding: str = "utf-8") -> tuple[Split, dict[str, int]]:
    """Read ``__label__x text`` lines (the first label of each line is used; labels and text
    are separated by any whitespace, a tab included, as fastText does)."""
    texts, raw = [], []
    for number, line in numbered_lines(path, encoding):
        head, rest = _first_word(line)
        if not head.startswith("__label__") or len(head) == len("__label__"):
            raise DataFormatError(path, number, f"line starts with {head[:30]!r}",
                                  "'__label__NAME text'")
        label = canonical_label(head[len("__label__"):])
        if label_map is not None and label not in label_map:
            raise DataFormatError(path, number, f"unknown label {label!r}",
                                  f"one of {sorted(label_map)}")
        while rest.startswith("__label__"):
            rest = _first_word(rest)[1]
        texts.append(rest.strip())
        raw.append(label)
    mapping = label_map if label_map is not None else {k: i for i, k in enumerate(sorted(set(raw)))}
    return Split(tuple(texts), np.array([mapping[x] for x in raw], dtype=np.int64)), mapping


def _first_word(line: str) -> tuple[str, str]:
    parts = line.strip().split(None, 1)
    return (parts[0] if parts else ""), (parts[1] if len(parts) > 1 else "")


def load_fasttext_file(path: str, seed: int = 0,
                       fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                       encoding: str = "utf-8") -> TextDataset:
    """A fastText file; ``encoding`` for files that are not UTF-8 (cp1252, latin-1, ...)."""
    return _own_file(path, lambda f, m: read_fasttext(Path(f), m, encoding), seed, fractions)


def load_tsv_file(path: str, seed: int = 0,
                  fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                  encoding: str = "utf-8") -> TextDataset:
    """A header-row TSV; ``encoding`` for files that are not UTF-8 (cp1252, latin-1, ...)."""
    return _own_file(path, lambda f, m: read_labelled_tsv(Path(f), m, encoding), seed, fractions)


_WIKITEXT_MARKERS = ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."), ("<unk>", " "))


def load_wikitext2(data_dir: str | Path | None = None) -> tuple[str, ...]:
    """WikiText-2 valid + test paragraphs, headings dropped, ``@-@``-style markers and
    ``<unk>`` removed: unlabelled text for embedding training."""
    folder = locate("wikitext2", data_dir)
    out = []
    for fname in ("valid.txt", "test.txt"):
        for _, line in numbered_lines(folder / fname):
            text = line.strip()
            if text.startswith("="):
                continue
            for marker, repl in _WIKITEXT_MARKERS:
                text = text.replace(marker, repl)
            out.append(text)
    return tuple(out)


def embedding_corpus(data_dir: str | Path | None = None,
                     parts: tuple[str, ...] = ("sst2", "mr", "wikitext2")) -> tuple[str, ...]:
    """Unlabelled text for pretraining and kernel parity: SST-2 train + MR + WikiText-2 by
    default; a part ``file:PATH`` adds a plain-text file (one sentence or paragraph a line)."""
    texts: list[str] = []
    for part in parts:
        if part.startswith("file:"):
            texts += [line.strip() for _, line in numbered_lines(Path(part[5:]).expanduser())]
        elif part == "sst2":
            texts += load_sst2(data_dir).train.texts
        elif part == "mr":
            d = load_mr(data_dir)
            texts += d.train.texts + d.validation.texts + d.test.texts
        elif part == "wikitext2":
            texts += load_wikitext2(data_dir)
        else:
            raise ConfigError(f"unknown corpus part {part!r}; known: sst2, mr, wikitext2, file:PATH")
    return tuple(texts)


@functools.lru_cache(maxsize=8)
def _named_corpus(part: str, data_dir: str | None, env_dir: str | None) -> tuple:
    """A named corpus's sentences, tokenised once per process (WikiText-2 takes a second)."""
    return tuple(tuple(tokenize(t)) for t in embedding_corpus(data_dir, (part,)))


def corpus_tokens(parts, own_tokens, data_dir=None, full_train_tokens=()) -> list:
    """The tokenised sentences of corpus ``parts`` in order: ``train`` is ``own_tokens`` (the
    primary's training text, labels dropped), ``train-full`` is ``full_train_tokens`` (the
    primary dataset's whole training split before ``train_size`` drew from it), ``sst2`` the
    whole SST-2 training text, ``mr`` all of MR's text (its test sentences too: transductive for
    an MR primary; prefer ``train-full`` there), ``wikitext2`` WikiText-2, ``file:PATH`` a
    user's text (one sentence a line, read afresh: its sha256 is in the run's identity)."""
    out: list = []
    for part in parts:
        if part == "train":
            out += list(own_tokens)
        elif part == "train-full":
            out += list(full_train_tokens)
        elif part.startswith("file:"):
            out += [tokenize(t) for t in embedding_corpus(data_dir, (part,))]
        else:
            out += _named_corpus(part, None if data_dir is None else str(data_dir),
                                 os.environ.get("MT2ST_DATA_DIR"))
    return out
