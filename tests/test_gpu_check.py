"""bench/gpu_check.sh, the one call a lent GPU gets, checked where there is none: it runs to
its end on the lent machine's package set (no pooch, gensim or dask), skips the CUDA parts and
says so in its JSON and log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU path")
#: imported first by any python that has this folder on its path: the packages the lent
#: machine lacks then fail to import, as they would there
_BLOCK = '''
import importlib.abc, sys
class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"pooch", "gensim", "dask", "distributed"}:
            raise ImportError(f"{name} is not installed on the lent GPU machine")
sys.meta_path.insert(0, _Absent())
'''


def _check(tmp_path: Path, *args: str) -> tuple[int, dict]:
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(REPO / "bench"))
    out = tmp_path / "gpu_check.json"
    rc = gpu_check.main(["--out", str(out), *args])
    return rc, json.loads(out.read_text())


@NO_GPU
def test_without_a_gpu_every_cuda_section_is_skipped_with_its_reason(tmp_path, data_dir,
                                                                      monkeypatch):
    monkeypatch.setenv("MT2ST_DATA_DIR", str(data_dir))
    rc, report = _check(tmp_path, "--profile", "smoke")
    assert rc == 0 and report["ok"] and not report["failed_sections"]
    for name in ("device", "copy_bandwidth", "throughput_triton", "throughput_batched", "parity"):
        assert report[name]["status"] == "skipped", (name, report[name])
        assert "no CUDA GPU" in report[name]["reason"]
    assert report["corpus"]["status"] == "ok" and report["device"]["torch"] == torch.__version__


@NO_GPU
def test_without_data_the_corpus_sections_say_where_to_point(tmp_path, monkeypatch):
    monkeypatch.setenv("MT2ST_DATA_DIR", str(tmp_path / "none"))
    rc, report = _check(tmp_path, "--device", "cpu", "--profile", "smoke")
    assert rc == 0, report
    assert report["corpus"]["status"] == "skipped"
    assert "MT2ST_DATA_DIR" in report["corpus"]["reason"]
    assert report["parity"]["status"] == "skipped"


@pytest.mark.heavy
@NO_GPU
def test_the_script_runs_to_its_end_on_the_lent_machines_packages(tmp_path, data_dir):
    """The whole script as the device tool runs it, on the CPU with the smoke profile and
    without pooch, gensim and dask: exit 0, the CUDA tests skipped, every CPU section run."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(_BLOCK)
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "MT2ST_DATA_DIR": str(data_dir), "PYTHON": sys.executable,
           "PYTHONPATH": str(tmp_path / "site"),
           "MT2ST_GPU_CHECK_ARGS": "--device cpu --profile smoke"}
    done = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh")], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert not report["device"]["has_pooch"] and not report["device"]["has_gensim"]
    assert report["copy_bandwidth"]["status"] == "skipped"
    for name in ("corpus", "throughput_batched", "parity"):
        assert report[name]["status"] == "ok", report[name]
    log = (out / "gpu_check.log").read_text()
    assert "needs a CUDA GPU" in log and "copy_bandwidth: skipped" in log
    assert (out / "cuda_tests.xml").is_file()
