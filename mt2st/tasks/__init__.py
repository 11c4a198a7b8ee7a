"""Primary and auxiliary tasks sharing one embedding table: each knows its batches, its loss,
its work count and its evaluation. The auxiliary tasks and the settings are listed once, in
:mod:`mt2st.tasks.registry`.

The task classes are imported on first use (PEP 562), so that reading a configuration, which
needs only the registry, loads neither torch nor the kernels."""

from __future__ import annotations

import importlib

from mt2st.tasks.registry import AUX_TASKS, SETTINGS, TaskSpec, task_class

#: public name → the module that defines it
_LAZY = {"AnalogyTask": "analogy", "AuxTask": "base", "TaskContext": "base", "CBOWTask": "cbow",
         "ClassificationData": "primary", "make_classifier": "primary", "SGNSTask": "sgns",
         "SimilarityTask": "similarity"}

__all__ = ["AUX_TASKS", "SETTINGS", "TaskSpec", "task_class", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"mt2st.tasks.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'mt2st.tasks' has no attribute {name!r}")
