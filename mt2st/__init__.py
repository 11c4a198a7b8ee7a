"""mt2st: a reference harness for Multi-Task to Single-Task (MT2ST) training schedules."""

from mt2st._numba_target import prefer_avx2
from mt2st.errors import DataFormatError, DataNotFoundError, MT2STError

prefer_avx2()  # before any numba import: see mt2st/_numba_target.py

__version__ = "0.1.0"
__all__ = ["DataFormatError", "DataNotFoundError", "MT2STError", "__version__"]
