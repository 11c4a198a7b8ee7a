"""Negative-sampling kernels: numba (CPU) backend, numpy reference, and shared tables."""

from mt2st.kernels.problem import METHODS, SGNSConfig, SGNSTables, SGNSWeights, TrainStats

__all__ = ["METHODS", "SGNSConfig", "SGNSTables", "SGNSWeights", "TrainStats"]
