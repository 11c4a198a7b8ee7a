"""Unlabelled text as an input of its own: the text sgns/cbow train on (``aux_corpus``), the
text an init is pretrained on (``pretrain_own_text``, ``pretrain_extra``) and the texts whose
words join the vocabulary (``vocab_extra``), each named independently and part of the run's
identity (a user's file by its sha256)."""

from __future__ import annotations

import numpy as np
import pytest

from mt2st.build import build_run, prepared_data
from mt2st.config import TrainConfig
from mt2st.data import tokenize
from mt2st.data.corpora import corpus_tokens, embedding_corpus
from mt2st.errors import ConfigError

SYN = dict(dataset="synthetic", init="random", epochs=1, dim=8, strategy="mtl", setting="sgns",
           dataset_options={"n_train": 200, "n_validation": 50, "n_test": 50})


def _text(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f"file:{path}"


def test_the_default_is_the_primarys_own_text_and_keeps_earlier_ids():
    config = TrainConfig(**SYN)
    assert config.aux_corpus == ("train",)
    for name in ("aux_corpus", "vocab_extra", "pretrain_own_text"):
        assert name not in config.identity()
    parts = build_run(config)
    task = parts.tasks["sgns"]
    assert task.corpus.n_tokens == parts.splits["train"].corpus.n_tokens


def test_sgns_trains_on_the_named_corpus_with_that_texts_counts(tmp_path, data_dir):
    path = tmp_path / "u.txt"
    synthetic = build_run(TrainConfig(**SYN))
    vocab = synthetic.vocab
    known = [w for w in vocab.words[2:12]]
    corpus = _text(path, [" ".join(known[:5]), " ".join(known[3:9] + ["unseen"]), known[0]])
    config = TrainConfig(**SYN, aux_corpus=(corpus,))
    assert config.identity()["aux_corpus"] == [corpus]
    assert str(path) in config.identity()["input_sha256"]
    task = build_run(config).tasks["sgns"]
    assert task.corpus.n_sentences == 3 and task.corpus.n_tokens == 5 + 6 + 1  # "unseen" dropped
    counts = np.bincount(task.corpus.tokens, minlength=len(vocab))
    assert counts[vocab.index(known[0])] == 2
    # the file edited in place is another run
    before = config.run_id
    _text(path, [" ".join(known[:2])])
    assert TrainConfig(**SYN, aux_corpus=(corpus,)).run_id != before


def test_named_corpora_load_as_the_pretraining_loader_reads_them(data_dir):
    wiki = corpus_tokens(("wikitext2",), (), data_dir)
    assert [list(s) for s in wiki] == [tokenize(t) for t in embedding_corpus(data_dir, ("wikitext2",))]
    own = [["a", "b"]]
    assert corpus_tokens(("train", "wikitext2"), own, data_dir)[:1] == own


def test_vocab_extra_adds_its_words_to_the_vocabulary_of_every_strategy(tmp_path):
    extra = _text(tmp_path / "v.txt", ["zyzzyva quokka", "quokka"])
    stl = TrainConfig(**{**SYN, "strategy": "stl"}, vocab_extra=(extra,))
    mtl = TrainConfig(**SYN, vocab_extra=(extra,))
    assert stl.workload_id == mtl.workload_id  # one vocabulary: a workload option
    assert stl.workload_id != TrainConfig(**{**SYN, "strategy": "stl"}).workload_id
    vocab = prepared_data(stl).vocab
    assert "zyzzyva" in vocab and "quokka" in vocab
    assert vocab.counts[vocab.index("quokka")] == 2
    assert "zyzzyva" not in prepared_data(TrainConfig(**{**SYN, "strategy": "stl"})).vocab


def test_an_init_pretrained_on_another_text_only(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    base = build_run(TrainConfig(**SYN)).vocab
    text = _text(tmp_path / "p.txt", [" ".join(base.words[2:30])] * 50)
    common = dict(SYN, init="sg", pretrain_epochs=1, strategy="stl")
    own = TrainConfig(**common, pretrain_extra=(text,))
    other = TrainConfig(**common, pretrain_extra=(text,), pretrain_own_text=False)
    assert other.identity()["pretrain_own_text"] is False and other.run_id != own.run_id
    a, b = build_run(own).table.detach().numpy(), build_run(other).table.detach().numpy()
    assert not np.array_equal(a, b)
    with pytest.raises(ConfigError, match="no pretraining text"):
        build_run(TrainConfig(**common, pretrain_own_text=False))


@pytest.mark.parametrize("kw, message", [
    ({"aux_corpus": ()}, "aux_corpus is empty"),
    ({"aux_corpus": ("wiki",)}, "unknown corpus 'wiki'"),
    ({"aux_corpus": ("train", "train")}, "names train twice"),
    ({"aux_corpus": "wikitext2"}, "must be a list of corpora"),
    ({"pretrain_extra": ("train",)}, "unknown corpus 'train'"),
    ({"vocab_extra": ("file:",)}, "unknown corpus 'file:'"),
])
def test_corpus_names_that_mean_nothing_are_refused(kw, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**{**SYN, **kw})


def test_train_full_is_the_whole_training_split_before_train_size_drew_from_it():
    """Few labels, the rest of the training text unlabelled: ``train-full`` holds every
    training sentence of the dataset (none of validation or test), whatever ``train_size``
    kept labelled, for the auxiliary task, the init and the vocabulary alike."""
    few = {**SYN, "dataset_options": {**SYN["dataset_options"], "train_size": 40}}
    whole = prepared_data(TrainConfig(**SYN))
    config = TrainConfig(**few, aux_corpus=("train-full",), vocab_extra=("train-full",))
    assert config.identity()["aux_corpus"] == ["train-full"]
    data = prepared_data(config)
    assert len(data.splits["train"].labels) == 40
    assert data.full_train == whole.tokens["train"]
    assert set(data.vocab.words) == set(whole.vocab.words)  # the labelled 40 hold fewer words
    assert len(prepared_data(TrainConfig(**few)).vocab) < len(whole.vocab)
    task = build_run(config).tasks["sgns"]
    assert task.corpus.n_sentences == 200
    assert task.corpus.n_tokens == sum(len(s) for s in whole.tokens["train"])
    # without train_size, train-full is the training split itself
    assert prepared_data(TrainConfig(**SYN, aux_corpus=("train-full",))).full_train == \
        whole.tokens["train"]


def test_an_init_pretrained_on_train_full_differs_from_one_on_the_labelled_text(tmp_path,
                                                                                monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    few = dict(SYN, dataset_options={**SYN["dataset_options"], "train_size": 40}, init="sg",
               pretrain_epochs=1, strategy="stl", vocab_extra=("train-full",))
    own = TrainConfig(**few)
    full = TrainConfig(**few, pretrain_extra=("train-full",), pretrain_own_text=False)
    assert full.run_id != own.run_id and full.workload_id != own.workload_id
    a, b = build_run(own).table.detach().numpy(), build_run(full).table.detach().numpy()
    assert a.shape == b.shape and not np.array_equal(a, b)
