"""The FLOP clock's model: what the lexical tasks count per item, the ``flop_model`` column
that says so in every record, and the conversion to the earlier models the fixtures hold."""

from __future__ import annotations

import pytest

from mt2st.config import TrainConfig
from mt2st.recording import as_flop_model
from mt2st.results import FLOP_MODEL
from mt2st.trainer import train

SYN = dict(dataset="synthetic", init="random", lr=0.02, epochs=1, batch_size=64, dim=12,
           eval_every_epochs=0.5, strategy="mtl", setting="S3",
           dataset_options={"n_train": 300, "n_validation": 100, "n_test": 100, "n_corpus": 10})


@pytest.fixture(scope="module")
def rows():
    return train(TrainConfig(**SYN), progress=False).rows


def test_the_lexical_tasks_count_their_whole_forward_pass(rows):
    """A similarity pair's forward is 8·d (two norms, two unit vectors, a dot), an analogy
    question's (19 + 5n)·d = 69·d at 10 noise words (14 rows' norms and unit vectors, the
    query's 5·d, 11 dots), each 3× for forward and backward. FLOP model 2 counted 6·d and
    30·d: the unit vectors and the candidates' norms were left out."""
    last = rows.iloc[-1]
    assert last["flops_similarity"] == last["work_similarity_pairs"] * 3 * 8 * 12
    assert last["flops_analogy"] == last["work_analogy_questions"] * 3 * 69 * 12
    assert (rows["flop_model"] == FLOP_MODEL).all() and FLOP_MODEL == 3


def test_records_convert_to_the_models_before_bit_for_bit(rows):
    two, one = as_flop_model(rows, 2), as_flop_model(rows, 1)
    assert (two["flops_similarity"] == rows["work_similarity_pairs"] * 3 * 6 * 12).all()
    assert (two["flops_analogy"] == rows["work_analogy_questions"] * 3 * 30 * 12).all()
    parts = two["flops_primary"] + two["flops_similarity"] + two["flops_analogy"]
    assert (two["flops_total"] == parts + two["flops_weighting"] + two["flops_optimizer"]).all()
    assert (one["flops_total"] == parts + one["flops_weighting"]).all()
    with pytest.raises(ValueError, match="the models are 1, 2, 3"):
        as_flop_model(rows, 0)
    with pytest.raises(ValueError, match="converts records of FLOP model 3 only"):
        as_flop_model(two.assign(flop_model=2), 1)
    with pytest.raises(ValueError, match="converts records of FLOP model 3 only"):
        as_flop_model(rows.drop(columns="flop_model"), 2)  # a record from before the column
