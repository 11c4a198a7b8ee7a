"""Word vectors: words + float32 table, saved and loaded in word2vec text format (GloVe's
header-less text format loads too)."""

from __future__ import annotations

import itertools
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mt2st.data.files import numbered_lines, umask_mode
from mt2st.errors import ConfigError, DataFormatError

FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass
class Embeddings:
    """``words[i]`` has vector ``vectors[i]``; ``stats`` holds how they were trained."""

    words: list[str]
    vectors: np.ndarray
    stats: object | None = None
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.vectors = np.ascontiguousarray(self.vectors, dtype=np.float32)
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise ConfigError(f"need one vector row per word: {len(self.words)} words, "
                              f"table of shape {self.vectors.shape}")
        self._index = {w: i for i, w in enumerate(self.words)}

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self._index

    def index(self, word: str) -> int:
        return self._index.get(word, -1)

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self._index[word]]

    def save_word2vec(self, path: str | Path) -> None:
        """Write word2vec text format (``V dim`` header), atomically."""
        path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        umask_mode(tmp)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(f"{len(self.words)} {self.dim}\n")
                for word, row in zip(self.words, self.vectors, strict=True):
                    if not word or any(ch.isspace() for ch in word):
                        raise ConfigError(f"word {word!r} cannot be written in word2vec text format")
                    f.write(word + " " + " ".join(f"{x:.6g}" for x in row) + "\n")
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def load_vectors(path: str | Path) -> Embeddings:
    """Read word2vec text format, or GloVe text format (no header line). Streams the file into
    a float32 table that grows by doubling (peak memory about twice the table, not a Python
    list of floats); nan and inf values are refused with their file and line."""
    path = Path(path)
    lines = numbered_lines(path)  # streamed: one line in memory at a time
    number, first = next(lines)
    head = first.split()
    words: list[str] = []
    expected_n = dim = None
    if len(head) == 2 and all(h.isdigit() for h in head):
        expected_n, dim = int(head[0]), int(head[1])
        if dim < 1:
            raise DataFormatError(path, number, f"header says {dim} values per word",
                                  "'WORDS DIMENSIONS' with at least one dimension")
    else:
        lines = itertools.chain([(number, first)], lines)  # GloVe: no header, still streamed
    table: np.ndarray | None = None
    first_line: dict[str, int] = {}
    for number, line in lines:
        cells = line.rstrip().split(" ")
        if dim is None:
            dim = len(cells) - 1
            if dim < 1:
                tabs = "\t" in line
                raise DataFormatError(path, number, "values separated by tabs" if tabs else
                                      "a word with no vector values",
                                      "'word v1 v2 ...' separated by single spaces")
        if not cells[0]:
            raise DataFormatError(path, number, "the line starts with a space (a word of no "
                                  "letters)", "'word v1 v2 ...' with the word first")
        if len(cells) != dim + 1:
            found = "values separated by tabs" if "\t" in line else f"{len(cells) - 1} values"
            raise DataFormatError(path, number, found, f"{dim} values after the word, "
                                  "separated by single spaces")
        if "" in cells:
            raise DataFormatError(path, number, "an empty value (two spaces in a row)",
                                  "values separated by single spaces")
        try:  # float64 first: a value beyond float32 is our message, not numpy's overflow warning
            wide = np.array(cells[1:], dtype=np.float64)
        except ValueError:
            raise DataFormatError(path, number, "a value is not a number", "floating-point values") from None
        if not np.isfinite(wide).all():
            raise DataFormatError(path, number, "a value is nan or infinite", "finite values")
        if (np.abs(wide) > FLOAT32_MAX).any():
            raise DataFormatError(path, number, "a value beyond float32's range (about 3.4e38)",
                                  "values a float32 table can hold")
        row = np.array(cells[1:], dtype=np.float32)  # parsed as float32 directly: no double rounding
        if cells[0] in first_line:  # the last one would win silently
            raise DataFormatError(path, number, f"the word {cells[0]!r} again (first on line "
                                  f"{first_line[cells[0]]})", "each word once")
        first_line[cells[0]] = number
        if table is None:  # the header's count when there is one (a header's count is not
            # trusted for the allocation: a wrong one would ask for any amount), else room to grow
            table = np.empty((max(min(expected_n or 1024, 1 << 16), 1), dim), dtype=np.float32)
        elif len(words) == len(table):
            grown = np.empty((len(table) + len(table) // 2 + 1, dim), dtype=np.float32)
            grown[:len(table)] = table
            table = grown
        table[len(words)] = row
        words.append(cells[0])
    if expected_n is not None and expected_n != len(words):
        raise DataFormatError(path, 1, f"header says {expected_n} words, file has {len(words)}",
                              "the header's word count")
    if not words:
        raise DataFormatError(path, None, "no vectors", "at least one 'word v1 v2 ...' line")
    return Embeddings(words, table[:len(words)].copy() if len(table) > len(words) else table)
