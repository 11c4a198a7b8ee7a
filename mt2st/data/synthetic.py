"""A generated dataset on which every task of the project is learnable in seconds.

Sentences carry a polarity (sentiment words of one side, with some noise), a topic (topic words)
and "family" fragments ``marker word context``: family k has a base form ``fam{k}``, a plural
``fam{k}s`` (marker ``many``) and a feminine ``fam{k}f`` (marker ``she``), always next to its own
context word ``ctx{k}``. Skip-gram therefore learns consistent plural and gender offsets, which
makes the generated analogy questions answerable, and the similarity pairs follow the structure.
For tests and demos only; never the default for published numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mt2st.data.corpora import Split, TextDataset
from mt2st.data.lexical import AnalogySet, SimilaritySet
from mt2st.errors import ConfigError


@dataclass(frozen=True)
class SyntheticData:
    dataset: TextDataset
    similarity: SimilaritySet
    analogy: AnalogySet
    corpus: tuple[str, ...]  # extra unlabelled sentences for embedding pretraining


def _sentence(rng: np.random.Generator, label: int, n_sent: int, n_topics: int, n_fam: int,
              noise: float) -> str:
    topic = rng.integers(n_topics)
    words: list[str] = []
    for _ in range(rng.integers(6, 15)):
        r = rng.random()
        if r < 0.25:
            side = label if rng.random() > noise else 1 - label
            words.append(("bad", "good")[side] + str(rng.integers(n_sent)))
        elif r < 0.45:
            k = rng.integers(n_fam)
            form = rng.integers(3)
            words += [("the", "many", "she")[form], f"fam{k}" + ("", "s", "f")[form], f"ctx{k}"]
        elif r < 0.75:
            words.append(f"topic{topic}w{rng.integers(8)}")
        else:
            words.append(f"w{rng.integers(30)}")
    return " ".join(words)


def make_synthetic(n_train: int = 2000, n_validation: int = 400, n_test: int = 400,
                   n_sentiment: int = 12, n_topics: int = 6, n_families: int = 16,
                   noise: float = 0.15, n_corpus: int = 4000, seed: int = 0) -> SyntheticData:
    """Generate the synthetic dataset, its similarity pairs, analogy questions and extra corpus."""
    if min(n_train, n_validation, n_test) < 1 or min(n_sentiment, n_topics) < 1 or n_families < 2:
        raise ConfigError("synthetic sizes must be >= 1 (and n_families >= 2)")
    if not 0 <= noise < 0.5:
        raise ConfigError(f"noise must be in [0, 0.5), got {noise}")
    rng = np.random.default_rng(seed)

    def split(n: int) -> Split:
        labels = rng.integers(0, 2, n)
        texts = tuple(_sentence(rng, int(y), n_sentiment, n_topics, n_families, noise)
                      for y in labels)
        return Split(texts, labels.astype(np.int64))

    dataset = TextDataset("synthetic", ("negative", "positive"), split(n_train),
                          split(n_validation), split(n_test),
                          notes=(f"generated, seed {seed}",))
    corpus = tuple(_sentence(rng, int(rng.integers(2)), n_sentiment, n_topics, n_families, noise)
                   for _ in range(n_corpus))

    w1, w2, sc = [], [], []
    for i in range(n_sentiment):
        j = (i + 1) % n_sentiment
        w1 += [f"good{i}", f"bad{i}", f"good{i}"]
        w2 += [f"good{j}", f"bad{j}", f"bad{i}"]
        sc += [9.0, 9.0, 1.0]
    for k in range(n_families):
        w1 += [f"fam{k}", f"fam{k}", f"fam{k}"]
        w2 += [f"fam{k}s", f"ctx{k}", f"fam{(k + 1) % n_families}"]
        sc += [8.0, 7.0, 3.0]
    similarity = SimilaritySet("synthetic", tuple(w1), tuple(w2), np.array(sc))

    questions, section = [], []
    for name, suffix in (("gender", "f"), ("plural", "s")):
        for a in range(n_families):
            for b in range(n_families):
                if a != b:
                    questions.append((f"fam{a}", f"fam{a}{suffix}", f"fam{b}", f"fam{b}{suffix}"))
                    section.append(name)
    analogy = AnalogySet(tuple(questions), tuple(section),
                         np.array([s == "gender" for s in section]))
    return SyntheticData(dataset, similarity, analogy, corpus)
