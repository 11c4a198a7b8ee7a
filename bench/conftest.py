"""pytest-benchmark suites (not collected by the README's ``pytest``: run ``pytest bench``).

Adds machine facts to the benchmark JSON and prints ours/peer ratios at the end of a session.
"""

from __future__ import annotations

import os
from collections import defaultdict

import pytest

RATIOS: dict[tuple, dict[str, float]] = defaultdict(dict)


def pytest_benchmark_update_machine_info(config, machine_info):
    """CPU model, thread settings, library versions and GPU name, for every saved run."""
    import numba
    import numpy
    import torch

    from mt2st.results import cpu_model

    machine_info["cpu_model"] = cpu_model()
    machine_info["cpu_count"] = os.cpu_count()
    machine_info["numba_threads"] = numba.config.NUMBA_NUM_THREADS
    machine_info["numba_threading_layer"] = numba.config.THREADING_LAYER
    machine_info["torch_threads"] = torch.get_num_threads()
    machine_info["versions"] = {"numba": numba.__version__, "numpy": numpy.__version__,
                                "torch": torch.__version__}
    try:
        import gensim
        machine_info["versions"]["gensim"] = gensim.__version__
    except ImportError:
        pass
    machine_info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


@pytest.fixture(scope="session")
def ratio_table():
    """Collects {case: {impl: words/s}}; prints ours/gensim ratios when the session ends."""
    yield RATIOS


def pytest_terminal_summary(terminalreporter):
    from bench import test_bench_aux_cost as aux_cost
    from bench import test_bench_schedules as schedules

    if aux_cost.RATIOS:
        terminalreporter.write_sep("=", "auxiliary work: time share / FLOP share (goal <= 1.5x)")
        aux_cost.pytest_terminal_summary(terminalreporter)

    if schedules.TTT.get("stl"):
        terminalreporter.write_sep("=", "time to target (median of rounds) and ratio strategy / STL")
        schedules.pytest_terminal_summary(terminalreporter)
    if not RATIOS:
        return
    tr = terminalreporter
    tr.write_sep("=", "effective words/s (after subsampling) and ratio ours / gensim")
    for case, by_impl in sorted(RATIOS.items()):
        peer = by_impl.get("gensim")
        cells = "  ".join(f"{impl} {v / 1e3:8.1f}k" for impl, v in sorted(by_impl.items()))
        ratio = "  ".join(f"{impl}/gensim {v / peer:5.2f}x" for impl, v in sorted(by_impl.items())
                          if peer and impl != "gensim")
        tr.write_line(f"{case!s:<32} {cells}  {ratio}")
