"""The paper's published numbers (shipped with the package) and the names that map onto ours."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import pandas as pd

from mt2st.schedules import STRATEGIES

# what the report knows of each strategy is read off its class (mt2st.schedules)
#: our strategies that the paper's Table 2 reports, under the paper's names
STRATEGY_TO_PAPER = {n: c.paper_name for n, c in STRATEGIES.items() if c.paper_name}
#: how the reports name each strategy
STRATEGY_LABEL = {n: c.label for n, c in STRATEGIES.items()}
#: our strategy name → key prefix of the authors' logged runs
STRATEGY_TO_LOG = {n: c.authors_log for n, c in STRATEGIES.items() if c.authors_log}
INIT_TO_LOG = {"cbow": "CBOW", "sg": "SG", "fasttext": "FastTextSG"}
#: the GloVe-Twitter runs are logged under their own keys
GLOVE_LOG = {"training_mt": "glove_mt", "training_mt2st_dimish": "glove_dimish",
             "training_mt2st_switch": "glove_switch"}
#: the paper's headline claims (abstract, v3)
CLAIM_VS_STL = 0.67  # stated as "67% less time"; equals T_STL / T_Switch - 1 in Table 2
CLAIM_VS_STL_AS_REDUCTION = 0.40  # 1 - T_Switch / T_STL in Table 2
CLAIM_VS_MTL = 0.13


def init_to_paper(init: str) -> str:
    if init.startswith("vectors:"):
        return "GloVeTwitter"
    return {"cbow": "CBOW", "sg": "SkipGram", "fasttext": "FastText"}.get(init, init)


@lru_cache(maxsize=1)
def paper_table2() -> pd.DataFrame:
    """Table 2 of the paper (v6): accuracy, time, compression, epochs, semantic, syntactic."""
    path = resources.files("mt2st.report") / "resources" / "paper_table2.csv"
    with path.open("r", encoding="utf-8") as f:
        return pd.read_csv(f)


@lru_cache(maxsize=1)
def authors_runs() -> dict:
    """Per-epoch train accuracy and loss parsed from the authors' committed logs."""
    path = resources.files("mt2st.report") / "resources" / "paper_original_runs.json"
    with path.open("r", encoding="utf-8") as f:
        return json.load(f)


def authors_curves(strategy: str, init: str, setting: str) -> dict | None:
    """The authors' logged run for our (strategy, init, setting), or None."""
    key = STRATEGY_TO_LOG.get(strategy)
    if key is None or not setting.startswith("S"):
        return None
    if init.startswith("vectors:"):
        name, runs = f"Setting{setting[1:]}", authors_runs()[GLOVE_LOG[key]]
    else:
        prefix = INIT_TO_LOG.get(init)
        if prefix is None:
            return None
        name, runs = f"{prefix}-s{setting[1:]}", authors_runs()[key]
    return next((r for r in runs if r["name"] == name), None)
