"""Primary and auxiliary tasks sharing one embedding table: each knows its batches, its loss,
its work count and its evaluation. The auxiliary tasks and the settings are listed once, in
:mod:`mt2st.tasks.registry`."""

from mt2st.tasks.analogy import AnalogyTask
from mt2st.tasks.base import AuxTask, TaskContext
from mt2st.tasks.cbow import CBOWTask
from mt2st.tasks.primary import ClassificationData, make_classifier
from mt2st.tasks.registry import AUX_TASKS, SETTINGS, TaskSpec, task_class
from mt2st.tasks.sgns import SGNSTask
from mt2st.tasks.similarity import SimilarityTask

__all__ = ["AUX_TASKS", "SETTINGS", "AnalogyTask", "AuxTask", "CBOWTask", "ClassificationData",
           "SGNSTask", "SimilarityTask", "TaskContext", "TaskSpec", "make_classifier", "task_class"]
