"""mt2st: a reference harness for Multi-Task to Single-Task (MT2ST) training schedules."""

from mt2st.errors import DataFormatError, DataNotFoundError, MT2STError

__version__ = "0.1.0"
__all__ = ["DataFormatError", "DataNotFoundError", "MT2STError", "__version__"]
