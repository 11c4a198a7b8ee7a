"""The auxiliary tasks by name, and the paper's settings: the one place that lists them.

Light on purpose (no torch): the configuration validates names and options from it, the
trainer builds tasks through :func:`task_class`, records and report iterate over it. A new
task is one module with an ``AuxTask`` class (mt2st/tasks/base.py) plus one line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class TaskSpec:
    """What the rest of mt2st needs to know of a task without importing it."""

    name: str
    unit: str  # what the task counts as its work: pairs, questions, tokens
    options: tuple[str, ...]  # the TrainConfig fields it reads (left out of identities without it)
    target: str  # "module:Class"
    in_place: bool = False  # trains through the kernels, not through a loss (no gradient)


AUX_TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in (
    TaskSpec("similarity", "pairs", ("similarity_batch",), "mt2st.tasks.similarity:SimilarityTask"),
    TaskSpec("analogy", "questions", ("analogy_batch",), "mt2st.tasks.analogy:AnalogyTask"),
    TaskSpec("sgns", "tokens", ("sgns_sentences", "sgns_alpha", "kernel", "aux_corpus"),
             "mt2st.tasks.sgns:SGNSTask", True),
    TaskSpec("cbow", "tokens", ("sgns_sentences", "sgns_alpha", "kernel", "aux_corpus"),
             "mt2st.tasks.cbow:CBOWTask", True),
)}

#: the paper's settings S0-S3, plus skip-gram on the primary task's own text
SETTINGS: dict[str, tuple[str, ...]] = {
    "S0": (),
    "S1": ("similarity",),
    "S2": ("analogy",),
    "S3": ("analogy", "similarity"),
    "sgns": ("sgns",),
}


def task_class(name: str):
    """The AuxTask class registered under ``name`` (imported on first use)."""
    module, _, cls = AUX_TASKS[name].target.partition(":")
    return getattr(importlib.import_module(module), cls)
