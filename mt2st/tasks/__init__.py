"""Primary and auxiliary tasks sharing one embedding table: each knows its batches, its loss,
its work count and its evaluation."""

from mt2st.tasks.analogy import AnalogyTask
from mt2st.tasks.primary import ClassificationData, make_classifier
from mt2st.tasks.sgns import SGNSTask
from mt2st.tasks.similarity import SimilarityTask

#: the paper's settings S0-S3, plus sgns on the primary task's own text
SETTINGS: dict[str, tuple[str, ...]] = {
    "S0": (),
    "S1": ("similarity",),
    "S2": ("analogy",),
    "S3": ("analogy", "similarity"),
    "sgns": ("sgns",),
}
AUX_TASKS = ("similarity", "analogy", "sgns")

__all__ = ["AUX_TASKS", "SETTINGS", "AnalogyTask", "ClassificationData", "SGNSTask",
           "SimilarityTask", "make_classifier"]
