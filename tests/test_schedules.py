"""Each schedule's γ(t) against its formula, and bad parameters."""

import math

import pytest

from mt2st.errors import ConfigError
from mt2st.schedules import make_schedule

G = {"analogy": 2.0, "similarity": 0.5}


@pytest.mark.parametrize("t", [0, 1, 2.5, 7])
def test_formulas(t):
    assert make_schedule("stl", G).weights(t) == {"analogy": 0.0, "similarity": 0.0}
    assert make_schedule("mtl", G).weights(t) == G
    d = make_schedule("diminish", G, eta=0.4, nu=1.5)
    assert d.weight("analogy", t) == pytest.approx(2.0 * math.exp(-0.4 * t ** 1.5))
    a = make_schedule("diminish-authors", G, alpha=0.95)
    e = math.floor(t) + 1
    assert a.weight("similarity", t) == pytest.approx(0.5 * 0.95 ** (2 ** (e - 1)))
    s = make_schedule("switch", G, t_switch=2)
    assert s.weight("analogy", t) == (2.0 if t < 2 else 0.0)


def test_authors_diminish_is_gone_by_epoch_ten():
    a = make_schedule("diminish-authors", {"analogy": 1.0}, alpha=0.95)
    assert a.weight("analogy", 0) == pytest.approx(0.95)
    assert a.weight("analogy", 9) < 1e-11


def test_adaptive_switch_waits_for_a_plateau():
    s = make_schedule("adaptive-switch", {"analogy": 1.0}, delta=0.01, patience=2)
    for epoch, acc in enumerate([0.70, 0.75, 0.755, 0.80]):
        assert s.weight("analogy", epoch) == 1.0
        s.observe(epoch, acc)
    s.observe(4, 0.805)  # +0.005 < delta: stale 1
    assert s.weight("analogy", 5) == 1.0
    s.observe(5, 0.79)  # stale 2 = patience: switch from epoch 6 on, for good
    assert s.weight("analogy", 6) == 0.0
    s.observe(6, 0.95)
    assert s.weight("analogy", 7) == 0.0
    assert s.describe()["switched_at"] == 5  # the time of the evaluation that decided it


@pytest.mark.parametrize(("strategy", "params", "message"), [
    ("cosine", {}, "unknown strategy"),
    ("diminish", {"eta": 0.0}, "eta > 0"),
    ("diminish", {"nu": 0.5}, "nu >= 1"),
    ("switch", {"t_switch": -1}, "t_switch > 0"),
    ("mtl", {"t_switch": 3}, "unexpected keyword"),
])
def test_bad_parameters(strategy, params, message):
    with pytest.raises(ConfigError, match=message):
        make_schedule(strategy, G, **params)


def test_negative_gamma():
    with pytest.raises(ConfigError, match="gamma0 for 'analogy'"):
        make_schedule("mtl", {"analogy": -1.0})
