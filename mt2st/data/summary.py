"""Dataset summaries for ``mt2st data list`` / ``mt2st data info``."""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from mt2st.data.corpora import TextDataset
from mt2st.data.lexical import load_google_analogy, load_similarity_sets
from mt2st.data.sources import RESOURCES, describe
from mt2st.data.text import Vocabulary, tokenize
from mt2st.errors import MT2STError


def list_resources(data_dir: str | Path | None = None) -> list[tuple[str, str, str]]:
    """(name, description, where found or why not) for every known resource."""
    rows = []
    for name, res in RESOURCES.items():
        folder, status = describe(name, data_dir)
        rows.append((name, res.description, f"{status} at {folder}" if folder else status))
    rows.append(("synthetic", "generated in code (tests and demos)", "always available"))
    return rows


def dataset_info(dataset: TextDataset, min_count: int = 1,
                 data_dir: str | Path | None = None) -> dict:
    """Sizes, label balance, vocabulary and token counts, and lexical-set OOV rates."""
    tokens = [tokenize(t) for t in tqdm(dataset.train.texts, desc="tokenizing train",
                                        leave=False, disable=None, mininterval=1.0)]
    vocab = Vocabulary.build(tokens, min_count=min_count)
    info: dict = {
        "name": dataset.name,
        "labels": list(dataset.label_names),
        "splits": {k: {"rows": len(s),
                       "label_counts": dict(zip(dataset.label_names,
                                                s.label_counts(len(dataset.label_names)).tolist(),
                                                strict=True))}
                   for k, s in dataset.splits.items()},
        "train_tokens": sum(len(t) for t in tokens),
        "min_count": min_count,
        "vocab_size": len(vocab),
        "notes": list(dataset.notes),
        "oov": {},
    }
    try:
        for name, s in load_similarity_sets(data_dir).items():
            words = s.words()
            info["oov"][name] = sum(w not in vocab for w in words) / len(words)
        analogy = load_google_analogy(data_dir)
        words = analogy.words()
        info["oov"]["google-analogy (words)"] = sum(w not in vocab for w in words) / len(words)
        info["analogy_questions_in_vocab"] = len(analogy.restrict(vocab))
    except MT2STError as exc:
        info["oov_error"] = str(exc)
    return info


def format_info(info: dict) -> str:
    lines = [f"dataset {info['name']}  labels: {', '.join(info['labels'])}"]
    for split, s in info["splits"].items():
        bal = ", ".join(f"{k} {v:,}" for k, v in s["label_counts"].items())
        lines.append(f"  {split:<11}{s['rows']:>9,} rows   ({bal})")
    lines.append(f"  train tokens {info['train_tokens']:,}; vocabulary at min_count="
                 f"{info['min_count']}: {info['vocab_size']:,} words")
    for note in info["notes"]:
        lines.append(f"  note: {note}")
    if info["oov"]:
        lines.append("  OOV rate of lexical sets (distinct words not in the vocabulary):")
        for name, rate in info["oov"].items():
            lines.append(f"    {name:<24}{rate:7.1%}")
        lines.append(f"    analogy questions fully in vocabulary: "
                     f"{info['analogy_questions_in_vocab']:,}")
    if "oov_error" in info:
        lines.append(f"  lexical sets unavailable: {info['oov_error']}")
    return "\n".join(lines)
