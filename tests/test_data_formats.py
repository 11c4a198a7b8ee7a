"""Loaders on small files the tests write: IMDB layouts, users' own formats, and bad input."""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mt2st.data import load_analogy, load_dataset, load_similarity, make_synthetic
from mt2st.data.corpora import read_fasttext, read_labelled_tsv
from mt2st.errors import DataFormatError, DataNotFoundError, MT2STError


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _aclimdb(root: Path, per_class: int = 6) -> None:
    for part in ("train", "test"):
        for label in ("pos", "neg"):
            for i in range(per_class):
                word = "great" if label == "pos" else "awful"
                _write(root / "imdb" / "aclImdb" / part / label / f"{i}_7.txt",
                       f"A {word} movie.<br /><br />Review {i} &amp; more.")
    _write(root / "imdb" / "aclImdb" / "README", "Large Movie Review Dataset v1.0\n")


def test_imdb_aclimdb_layout(tmp_path):
    _aclimdb(tmp_path)
    d = load_dataset("imdb", data_dir=tmp_path, seed=0)
    assert len(d.test) == 12 and len(d.train) + len(d.validation) == 12
    assert all("<br" not in t for t in d.train.texts)
    assert "&" in d.test.texts[0] and "&amp;" not in d.test.texts[0]
    assert d.test.label_counts(2).tolist() == [6, 6]


def test_imdb_csv_with_subsample(tmp_path):
    rows = ["review,sentiment"]
    for i in range(40):
        lab = "positive" if i % 2 else "negative"
        rows.append(f'"Review {i}, with a comma.<br />Second line",{lab}')
    _write(tmp_path / "imdb" / "IMDB Dataset.csv", "\n".join(rows) + "\n")
    d = load_dataset("imdb", data_dir=tmp_path, seed=24, subsample=20)
    # the authors' 75/25 protocol, stratified: 10 reviews a class, round(2.5) = 2 to test each
    assert (len(d.train), len(d.test)) == (16, 4)
    assert d.validation is d.test  # empty validation aliases the test split, and says so
    assert any("validation split is the test split" in n for n in d.notes)
    assert d.train.texts[0].startswith("Review") and "<br" not in d.train.texts[0]
    again = load_dataset("imdb", data_dir=tmp_path, seed=24, subsample=20)
    assert again.train.texts == d.train.texts


def test_imdb_csv_unknown_label(tmp_path):
    _write(tmp_path / "imdb" / "IMDB Dataset.csv", "review,sentiment\nok film,positive\nmeh,neutral\n")
    with pytest.raises(DataFormatError, match=r"line 3.*unknown label 'neutral'"):
        load_dataset("imdb", data_dir=tmp_path)


def test_fasttext_and_tsv_own_files(tmp_path):
    lines = [f"__label__{'pos' if i % 2 else 'neg'} text number {i}" for i in range(30)]
    ft = _write(tmp_path / "own.txt", "\n".join(lines))
    d = load_dataset(f"fasttext:{ft}", seed=1)
    assert d.label_names == ("neg", "pos")
    assert len(d.train) + len(d.validation) + len(d.test) == 30
    tsv = _write(tmp_path / "own.tsv", "text\tlabel\n" + "\n".join(
        f"row {i}\t{'b' if i % 3 else 'a'}" for i in range(30)))
    t = load_dataset(f"tsv:{tsv}")
    assert t.label_names == ("a", "b")
    folder = tmp_path / "split"
    _write(folder / "train.tsv", "label\tsentence\n1\tgood\n0\tbad\n")
    _write(folder / "dev.tsv", "label\tcontent\n1\tfine\n")
    _write(folder / "test.tsv", "label\tcontent\n0\tpoor\n")
    s = load_dataset(f"tsv:{folder}")
    assert s.validation.texts == ("fine",) and s.test.labels.tolist() == [0]


# --- bad input: each names the file, the line and what was expected ------------------------

def test_wrong_column_count(tmp_path):
    p = _write(tmp_path / "x.tsv", "label\tsentence\n1\tgood\n0\tbad\textra\n")
    with pytest.raises(DataFormatError, match=r"x\.tsv, line 3: 3 tab-separated columns"):
        read_labelled_tsv(p)


def test_unknown_label_in_sst2(tmp_path):
    _write(tmp_path / "sst2" / "train.tsv", "label\tsentence\n1\tgood\n2\tweird\n")
    _write(tmp_path / "sst2" / "dev.tsv", "label\tcontent\n1\tgood\n")
    _write(tmp_path / "sst2" / "test.tsv", "label\tcontent\n1\tgood\n")
    with pytest.raises(DataFormatError, match=r"train\.tsv, line 3: unknown label '2'"):
        load_dataset("sst2", data_dir=tmp_path)


def test_non_numeric_similarity_score(tmp_path):
    p = _write(tmp_path / "EN-X.txt", "cat dog 7.5\ncar bus high\n")
    with pytest.raises(DataFormatError, match=r"EN-X\.txt, line 2: score 'high' is not a number"):
        load_similarity(p)


def test_undecodable_bytes(tmp_path):
    p = _write(tmp_path / "EN-Y.txt", b"cat dog 7.5\ncaf\xe9 tea 3\n")
    with pytest.raises(DataFormatError, match=r"EN-Y\.txt, line 2: bytes .* cannot be decoded"):
        load_similarity(p)


def test_empty_file(tmp_path):
    p = _write(tmp_path / "empty.txt", "\n \n")
    with pytest.raises(DataFormatError, match=r"empty\.txt: file is empty"):
        load_analogy(p)


def test_missing_file_names_folders_and_env_var(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"MT2ST_DATA_DIR") as err:
        load_dataset("sst2", data_dir=tmp_path / "nowhere")
    assert str(tmp_path / "nowhere" / "sst2") in str(err.value)
    with pytest.raises(DataNotFoundError, match="no such file"):
        load_similarity(tmp_path / "absent.txt")


def test_download_attempt_fails_fast_offline(tmp_path, monkeypatch):
    monkeypatch.delenv("MT2ST_OFFLINE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr("mt2st.data.sources.cache_dir", lambda: tmp_path / "cache" / "mt2st")

    def refuse(*args, **kwargs):
        raise ConnectionError("Failed to resolve 'www.cs.cornell.edu'")

    monkeypatch.setattr("pooch.retrieve", refuse)
    with pytest.raises(DataNotFoundError, match=r"download from https://www\.cs\.cornell\.edu/\S+ failed: "
                                               r"ConnectionError.*MT2ST_DATA_DIR"):
        load_dataset("mr", data_dir=tmp_path / "empty")


def test_analogy_line_with_three_words(tmp_path):
    p = _write(tmp_path / "q.txt", ": capital\nathens greece baghdad iraq\nparis france rome\n")
    with pytest.raises(DataFormatError, match=r"q\.txt, line 3: 3 words .* \(expected 4 words"):
        load_analogy(p)


def test_fasttext_line_without_label(tmp_path):
    p = _write(tmp_path / "f.txt", "__label__a good\njust text\n")
    with pytest.raises(DataFormatError, match=r"f\.txt, line 2"):
        read_fasttext(p)


def test_unknown_dataset_name():
    with pytest.raises(MT2STError, match="unknown dataset 'sst3'"):
        load_dataset("sst3")


# --- property-based: parsers fail only with the project's own error -----------------------

_text = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(list("\t\n :_#")) |
                st.sampled_from(list(string.ascii_lowercase)), max_size=200)

_PARSERS = [
    load_similarity, load_analogy, read_fasttext,
    lambda p: read_labelled_tsv(p), lambda p: read_labelled_tsv(p, {"0": 0, "1": 1}),
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(_text, st.binary(max_size=120)))
@pytest.mark.parametrize("parser", _PARSERS)
def test_parsers_only_raise_project_errors(tmp_path, parser, content):
    p = _write(tmp_path / "fuzz.txt", content)
    try:
        parser(p)
    except MT2STError:
        pass


def test_synthetic_is_seeded_and_balanced():
    a, b = make_synthetic(seed=5), make_synthetic(seed=5)
    assert a.dataset.train.texts == b.dataset.train.texts
    assert np.array_equal(a.dataset.train.labels, b.dataset.train.labels)
    assert 0.4 < a.dataset.train.labels.mean() < 0.6
    assert a.analogy.semantic.any() and (~a.analogy.semantic).any()
    assert all(w in " ".join(a.corpus).split() for w in a.similarity.words())


def test_sst_tree_sentence_and_binary_test_rows(tmp_path):
    from mt2st.data.sst import binary_test_rows, tree_sentence

    tree = ("(3 (2 It) (4 (4 (2 's) (4 (3 (2 a) (4 (3 lovely) (2 film))) (2 -LRB-) (2 really) "
            "(2 -RRB-))) (2 .)))")
    assert tree_sentence(tree) == (3, "it 's a lovely film -lrb- really -rrb- .")
    path = tmp_path / "test.txt"
    path.write_text("(0 (1 Bad) (1 .))\n(2 (2 So) (2 so))\n(4 (4 Great))\n\n(1 (1 Dull))\n")
    assert binary_test_rows(path) == [(0, "bad ."), (1, "great"), (0, "dull")]  # neutral dropped
    path.write_text("(0 (1 Bad) (1 .))\n(3 (2 unbalanced)\n")
    with pytest.raises(DataFormatError, match=r"test\.txt, line 2: not a sentiment tree"):
        binary_test_rows(path)


def test_sst_glue_rows_need_glue_layout(tmp_path):
    from mt2st.data.sst import glue_rows

    path = tmp_path / "train.tsv"
    path.write_text("sentence\tlabel\na fine film \t1\ndull \t0\n")
    assert glue_rows(path) == [(1, "a fine film"), (0, "dull")]
    path.write_text("label\tsentence\n1\ta fine film\n")
    with pytest.raises(DataFormatError, match=r"train\.tsv, line 1: header"):
        glue_rows(path)
    path.write_text("sentence\tlabel\na fine film \t2\n")
    with pytest.raises(DataFormatError, match=r"train\.tsv, line 2"):
        glue_rows(path)


def test_local_data_is_read_without_pooch(monkeypatch, tmp_path):
    """A lent GPU machine has no pooch: local data still loads, a download says what it needs."""
    import sys

    from mt2st.data import sources
    from mt2st.errors import DataNotFoundError

    monkeypatch.setitem(sys.modules, "pooch", None)  # import pooch now raises ImportError
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert sources.cache_dir() == tmp_path / "mt2st"
    resource = next(iter(sources.RESOURCES.values()))
    with pytest.raises(DataNotFoundError, match="needs pooch"):
        sources._download(resource)
