"""Parity with gensim: tables, hashing, file format, and embedding quality on the shared corpus."""

from __future__ import annotations

import numpy as np
import pytest

from mt2st.data import embedding_corpus, load_google_analogy, load_similarity_sets, tokenize
from mt2st.embed import train_embeddings
from mt2st.kernels.tables import char_ngrams, ft_hash, subsample_ints
from mt2st.metrics import embedding_quality
from mt2st.vectors import Embeddings, load_vectors

gensim = pytest.importorskip("gensim")


def test_subsample_thresholds_equal_gensims():
    sents = [["a", "b", "a", "c", "a", "the", "the", "the"] * 50, ["b", "d"] * 7]
    m = gensim.models.Word2Vec(sents, min_count=1, sample=1e-2, vector_size=5, epochs=1)
    counts = np.array([m.wv.get_vecattr(w, "count") for w in m.wv.index_to_key])
    np.testing.assert_array_equal(subsample_ints(counts, 1e-2),
                                  m.wv.expandos["sample_int"].astype(np.uint64))


@pytest.mark.parametrize("word", ["hello", "naïve", "日本語", "a", "n't"])
def test_ngrams_and_hash_equal_gensims(word):
    from gensim.models.fasttext_inner import compute_ngrams, ft_hash_bytes

    grams = char_ngrams(word, 3, 6)
    assert grams == compute_ngrams(word, 3, 6)
    assert [ft_hash(g.encode()) for g in grams] == [ft_hash_bytes(g.encode()) for g in grams]


def test_word2vec_text_format_both_ways(tmp_path):
    rng = np.random.default_rng(0)
    ours = Embeddings(["cat", "dog", "naïve"], rng.normal(size=(3, 4)).astype(np.float32))
    ours.save_word2vec(tmp_path / "ours.txt")
    kv = gensim.models.KeyedVectors.load_word2vec_format(str(tmp_path / "ours.txt"))
    np.testing.assert_allclose(kv["dog"], ours["dog"], rtol=1e-5)
    kv.save_word2vec_format(str(tmp_path / "theirs.txt"))
    back = load_vectors(tmp_path / "theirs.txt")
    assert back.words == ["cat", "dog", "naïve"]
    np.testing.assert_allclose(back.vectors, ours.vectors, rtol=1e-5)
    glove = tmp_path / "glove.txt"
    glove.write_text("the 0.1 0.2\nof -0.3 0.4\n", encoding="utf-8")
    g = load_vectors(glove)
    assert g.words == ["the", "of"] and g.vectors.shape == (2, 2)


KEYS = ("similarity_mean", "WS-353-ALL", "SIMLEX-999", "analogy_overall_pct")
#: fast-version tolerances: the 13-set mean is stable; single sets at 2 epochs are noisy
#: (the strict 0.03 per set, 3 seeds, 5 epochs lives in bench/test_bench_quality.py)
TOLERANCE = (0.03, 0.08, 0.08, 1.0)


@pytest.mark.heavy
@pytest.mark.parametrize("method", ["sg", "cbow"])
def test_quality_parity_with_gensim_fast(data_dir, method):
    """Fast version of the parity check on the shared corpus: small vectors, 2 epochs, 2 seeds.
    One-sided: ours may not be worse than gensim by more than the tolerance (at 2 epochs CBOW
    is barely trained and either side can lead); the two-sided check is in bench/."""
    sents = [tokenize(t) for t in embedding_corpus(data_dir)]
    sims, analogy = load_similarity_sets(data_dir), load_google_analogy(data_dir)
    kw = dict(dim=50, window=5, negative=5, epochs=2, min_count=5, sample=1e-3)
    ours, theirs = [], []
    for seed in (1, 2):
        e = train_embeddings(sents, method=method, seed=seed, progress=False, **kw)
        q = embedding_quality(e.index, e.vectors, sims, analogy)
        ours.append([q[k] for k in KEYS])
        m = gensim.models.Word2Vec(sents, vector_size=kw["dim"], window=5, negative=5,
                                   epochs=kw["epochs"], min_count=5, sample=1e-3,
                                   sg=int(method == "sg"), workers=1, seed=seed)
        q = embedding_quality(lambda w, kv=m.wv: kv.key_to_index.get(w, -1), m.wv.vectors, sims, analogy)
        theirs.append([q[k] for k in KEYS])
    ours_mean, theirs_mean = np.mean(ours, axis=0), np.mean(theirs, axis=0)
    report = {k: (round(a, 4), round(b, 4)) for k, a, b in zip(KEYS, ours_mean, theirs_mean, strict=True)}
    assert (ours_mean > theirs_mean - np.array(TOLERANCE)).all(), report
