"""The loaders on the real files in ../shared/data."""

import numpy as np
import pytest

from mt2st.data import (
    Vocabulary,
    load_dataset,
    load_google_analogy,
    load_similarity,
    load_similarity_sets,
    split_analogy,
    split_similarity,
    tokenize,
)
from mt2st.errors import ConfigError


def test_sst2_sizes_and_balance(data_dir):
    d = load_dataset("sst2", data_dir=data_dir)
    assert (len(d.train), len(d.validation), len(d.test)) == (67349, 872, 1821)
    assert d.train.label_counts(2).tolist() == [29780, 37569]
    assert d.validation.label_counts(2).tolist() == [428, 444]
    assert d.test.label_counts(2).tolist() == [912, 909]
    # the text column is read by header name: 'sentence' in train, 'content' in dev/test
    assert d.train.texts[0] == "hide new secretions from the parental units"
    assert d.validation.texts[0] == "one long string of cliches ."


def test_mr_sizes_stratified_and_deterministic(data_dir):
    a = load_dataset("mr", data_dir=data_dir, seed=3)
    b = load_dataset("mr", data_dir=data_dir, seed=3)
    c = load_dataset("mr", data_dir=data_dir, seed=4)
    counts = sum(s.label_counts(2) for s in a.splits.values())
    assert counts.tolist() == [5331, 5331]
    for split in ("train", "validation", "test"):
        x, y = a.splits[split], b.splits[split]
        assert x.texts == y.texts and np.array_equal(x.labels, y.labels)
        n0, n1 = x.label_counts(2)
        assert abs(int(n0) - int(n1)) <= 1  # stratified: each class the same share
    assert a.test.texts != c.test.texts
    assert len(a.test) == 1066 and len(a.validation) == 1066
    assert not set(a.train.texts) & set(a.test.texts) - set(a.train.texts)


def test_analogy_sections(data_dir):
    a = load_google_analogy(data_dir)
    assert len(a) == 19544
    assert len(a.sections) == 14
    assert int(a.semantic.sum()) == 8869
    assert a.questions[0] == ("athens", "greece", "baghdad", "iraq")


def test_similarity_sets(data_dir):
    sets = load_similarity_sets(data_dir)
    assert len(sets) == 13
    assert len(sets["WS-353-ALL"]) == 353
    assert len(sets["SIMLEX-999"]) == 999
    assert sets["WS-353-ALL"].word1[:2] == ("love", "tiger")


def test_gensim_wordsim353_format():
    datapath = pytest.importorskip("gensim.test.utils").datapath
    ws = load_similarity(datapath("wordsim353.tsv"))
    assert len(ws) == 353
    assert ws.scores[0] == pytest.approx(6.77)


def test_lexical_splits_are_disjoint_and_seeded(data_dir):
    a = load_google_analogy(data_dir)
    tr, ho = split_analogy(a, 0.5, seed=1)
    tr2, _ = split_analogy(a, 0.5, seed=1)
    assert 0.15 * len(a) < len(tr) < 0.35 * len(a) and 0.15 * len(a) < len(ho) < 0.35 * len(a)
    assert not set(tr.questions) & set(ho.questions)
    # no relation fact (word pair of a section) is shared between the two sides
    def pairs(x):
        return {(q[0], q[1]) for q in x.questions} | {(q[2], q[3]) for q in x.questions}
    assert not pairs(tr) & pairs(ho)
    assert tr.questions == tr2.questions
    assert set(tr.section) == set(ho.section)  # stratified by section
    s = load_similarity_sets(data_dir)["SIMLEX-999"]
    st, sh = split_similarity(s, 0.3, seed=0)
    assert (len(st), len(sh)) == (699, 300)


def test_oov_coverage_against_sst2_vocab(data_dir):
    d = load_dataset("sst2", data_dir=data_dir)
    vocab = Vocabulary.build((tokenize(t) for t in d.train.texts), min_count=5)
    ws = load_similarity_sets(data_dir)["WS-353-ALL"].restrict(vocab)
    assert 0 < len(ws) < 353
    assert all(w in vocab for w in ws.word1 + ws.word2)


@pytest.mark.parametrize("name", ["mr", "sst2", "synthetic"])
def test_every_dataset_takes_a_stratified_subsample(data_dir, name):
    """The authors' protocol on any dataset: 1,000 examples of the pooled data, stratified by
    label, split 750/250 with validation = test; a separate validation split on request; the
    draw depends on the data seed only."""
    options = {"n_train": 1200, "n_validation": 400, "n_test": 400} if name == "synthetic" else {}
    full = load_dataset(name, data_dir=data_dir, seed=5, **options)  # synthetic: seeded data
    d = load_dataset(name, data_dir=data_dir, seed=5, subsample=1000, **options)
    assert (len(d.train), len(d.test)) == (750, 250) and d.validation is d.test
    pool = np.concatenate([full.train.labels, full.validation.labels, full.test.labels])
    share = np.bincount(pool, minlength=2) / len(pool)
    drawn = np.bincount(np.concatenate([d.train.labels, d.test.labels]), minlength=2)
    np.testing.assert_allclose(drawn, share * 1000, atol=1)  # stratified: shares kept
    assert set(d.train.texts).isdisjoint(d.test.texts) or name == "sst2"  # sst2 repeats phrases
    again = load_dataset(name, data_dir=data_dir, seed=5, subsample=1000, **options)
    other = load_dataset(name, data_dir=data_dir, seed=6, subsample=1000, **options)
    assert again.train.texts == d.train.texts and other.train.texts != d.train.texts
    sep = load_dataset(name, data_dir=data_dir, seed=5, subsample=1000,
                       fractions=[0.6, 0.15, 0.25], **options)
    assert (len(sep.train), len(sep.validation), len(sep.test)) == (600, 150, 250)
    assert sep.validation is not sep.test


def test_train_size_keeps_the_official_validation_and_test_splits(data_dir):
    full = load_dataset("sst2", data_dir=data_dir)
    d = load_dataset("sst2", data_dir=data_dir, seed=2, train_size=1000)
    assert len(d.train) == 1000
    assert d.validation.texts == full.validation.texts and d.test.texts == full.test.texts
    share = full.train.label_counts(2) / len(full.train)
    np.testing.assert_allclose(d.train.label_counts(2), share * 1000, atol=1)
    assert set(d.train.texts) <= set(full.train.texts)


@pytest.mark.parametrize(("options", "message"), [
    ({"subsample": 0}, r"subsample must be a whole number in 1\.\.10662"),
    ({"subsample": 2.5}, "subsample must be a whole number"),
    ({"train_size": 10, "subsample": 100}, "does not combine"),
    ({"fractions": [0.5, 0.5]}, "three non-negative numbers summing to 1"),
    ({"fractions": [1.0, 0.0, 0.0]}, "empty training or test split"),
    ({"subsampel": 10}, "subsample"),
])
def test_bad_resampling_options_are_named(data_dir, options, message):
    with pytest.raises(ConfigError, match=message):
        load_dataset("mr", data_dir=data_dir, **options)
