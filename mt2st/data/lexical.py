"""Lexical resources: word-similarity sets and the Google analogy set, with seeded splits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mt2st.data.files import numbered_lines
from mt2st.data.sources import locate
from mt2st.data.text import Vocabulary
from mt2st.errors import ConfigError, DataFormatError

#: The Google analogy set's first five sections are semantic, the other nine syntactic.
N_SEMANTIC_SECTIONS = 5


@dataclass(frozen=True)
class SimilaritySet:
    """Word pairs with human similarity scores."""

    name: str
    word1: tuple[str, ...]
    word2: tuple[str, ...]
    scores: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.word1)

    def take(self, idx: np.ndarray, suffix: str = "") -> SimilaritySet:
        return SimilaritySet(self.name + suffix, tuple(self.word1[i] for i in idx),
                             tuple(self.word2[i] for i in idx), self.scores[idx])

    def words(self) -> set[str]:
        return set(self.word1) | set(self.word2)

    def restrict(self, vocab: Vocabulary) -> SimilaritySet:
        keep = np.array([i for i in range(len(self)) if self.word1[i] in vocab
                         and self.word2[i] in vocab], dtype=np.int64)
        return self.take(keep)


@dataclass(frozen=True)
class AnalogySet:
    """Questions ``a : b :: c : d`` (lowercased) with their section and semantic flag."""

    questions: tuple[tuple[str, str, str, str], ...]
    section: tuple[str, ...]
    semantic: np.ndarray  # bool per question

    def __len__(self) -> int:
        return len(self.questions)

    @property
    def sections(self) -> list[str]:
        return list(dict.fromkeys(self.section))

    def take(self, idx: np.ndarray) -> AnalogySet:
        return AnalogySet(tuple(self.questions[i] for i in idx),
                          tuple(self.section[i] for i in idx), self.semantic[idx])

    def words(self) -> set[str]:
        return {w for q in self.questions for w in q}

    def restrict(self, vocab: Vocabulary) -> AnalogySet:
        keep = np.array([i for i, q in enumerate(self.questions) if all(w in vocab for w in q)],
                        dtype=np.int64)
        return self.take(keep)


def load_similarity(path: str | Path, name: str | None = None) -> SimilaritySet:
    """Read ``word1 word2 score`` lines (whitespace or tabs; ``#`` comment lines skipped)."""
    path = Path(path)
    w1, w2, scores = [], [], []
    for number, line in numbered_lines(path, comment="#"):
        cells = line.split()
        if len(cells) != 3:
            raise DataFormatError(path, number, f"{len(cells)} fields in {line.strip()!r}",
                                  "3 fields: word1 word2 score")
        try:
            score = float(cells[2])
        except ValueError:
            raise DataFormatError(path, number, f"score {cells[2]!r} is not a number",
                                  "a numeric similarity score") from None
        if not math.isfinite(score):
            raise DataFormatError(path, number, f"score {cells[2]!r} is not finite",
                                  "a finite similarity score")
        w1.append(cells[0].lower())
        w2.append(cells[1].lower())
        scores.append(score)
    if not scores:
        raise DataFormatError(path, None, "no word pairs", "at least one 'word1 word2 score' line")
    stem = path.name.removeprefix("EN-").rsplit(".", 1)[0]
    return SimilaritySet(name or stem, tuple(w1), tuple(w2), np.array(scores, dtype=np.float64))


def load_analogy(path: str | Path) -> AnalogySet:
    """Read the Google analogy format: ``: section`` headers then ``a b c d`` lines."""
    path = Path(path)
    questions, section, semantic = [], [], []
    current: str | None = None
    n_sections = 0
    for number, line in numbered_lines(path):
        stripped = line.strip()
        if stripped.startswith(":"):
            current = stripped[1:].strip()
            if not current:
                raise DataFormatError(path, number, "empty section name", "': section-name'")
            n_sections += 1
            continue
        cells = stripped.split()
        if len(cells) != 4:
            raise DataFormatError(path, number, f"{len(cells)} words in {stripped!r}",
                                  "4 words: a b c d")
        if current is None:
            raise DataFormatError(path, number, "question before any section header",
                                  "a ': section' line first")
        questions.append(tuple(w.lower() for w in cells))
        section.append(current)
        semantic.append(n_sections <= N_SEMANTIC_SECTIONS)
    if not questions:
        raise DataFormatError(path, None, "no analogy questions", "'a b c d' lines")
    return AnalogySet(tuple(questions), tuple(section), np.array(semantic, dtype=bool))


def similarity_files(data_dir: str | Path | None = None) -> list[Path]:
    folder = locate("wordsim", data_dir)
    return sorted(folder.glob("EN-*.txt"))


def load_similarity_sets(data_dir: str | Path | None = None) -> dict[str, SimilaritySet]:
    """All 13 word-similarity sets, by name (e.g. ``WS-353-ALL``, ``SIMLEX-999``)."""
    sets = (load_similarity(p) for p in similarity_files(data_dir))
    return {s.name: s for s in sets}


def load_google_analogy(data_dir: str | Path | None = None) -> AnalogySet:
    return load_analogy(locate("analogy", data_dir) / "questions-words.txt")


def split_indices(n: int, heldout_fraction: float, seed: int,
                  groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train, held-out) index split; stratified by ``groups`` when given."""
    if not 0.0 <= heldout_fraction <= 1.0:
        raise ConfigError(f"heldout_fraction must be in [0, 1], got {heldout_fraction}")
    rng = np.random.default_rng(seed)
    groups = np.zeros(n, dtype=np.int64) if groups is None else np.asarray(groups)
    train, held = [], []
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        members = members[rng.permutation(len(members))]
        k = int(round(heldout_fraction * len(members)))
        held.append(members[:k])
        train.append(members[k:])
    if not train:  # no items: two empty index arrays (np.concatenate refuses an empty list)
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def split_similarity(s: SimilaritySet, heldout_fraction: float = 0.5,
                     seed: int = 0) -> tuple[SimilaritySet, SimilaritySet]:
    """Split pairs into an auxiliary-training part and a held-out evaluation part."""
    tr, ho = split_indices(len(s), heldout_fraction, seed)
    return s.take(tr), s.take(ho)


def split_analogy(a: AnalogySet, heldout_fraction: float = 0.5,
                  seed: int = 0) -> tuple[AnalogySet, AnalogySet]:
    """Split into auxiliary-training and held-out questions without leaking relation facts.

    A question a : b :: c : d is built from two word pairs of its section, (a, b) and (c, d).
    Splitting questions alone would let the held-out question "athens greece bangkok thailand"
    be answered from the training question "athens greece baghdad iraq". So the word pairs of
    each section are split (by ``seed``); a question is held out when both its pairs are held
    out, used for training when both are training pairs, and dropped otherwise (about half of
    the questions at a 50 % split). Repeated questions always land on the same side.
    """
    first_section: dict[tuple[str, str], str] = {}
    for sec, q in zip(a.section, a.questions, strict=True):
        first_section.setdefault((q[0], q[1]), sec)
        first_section.setdefault((q[2], q[3]), sec)
    pairs = sorted(first_section)  # a pair shared by two sections is split once, globally
    _, codes = np.unique(np.array([first_section[p] for p in pairs]), return_inverse=True)
    _, held_idx = split_indices(len(pairs), heldout_fraction, seed, groups=codes)
    held = {pairs[i] for i in held_idx}
    side = np.array([((q[0], q[1]) in held) + ((q[2], q[3]) in held) for q in a.questions])
    return a.take(np.flatnonzero(side == 0)), a.take(np.flatnonzero(side == 2))
