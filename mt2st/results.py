"""Run records: per-epoch rows plus provenance, written atomically as Parquet that pandas reads
without mt2st (the full config is also a JSON column)."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

META_KEY = b"mt2st"


def config_hash(config: dict) -> str:
    """Stable 16-hex id of a run's configuration (sorted-key JSON)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def git_commit(path: str | Path | None = None) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path or Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance(threads: int, device: str) -> dict:
    """Versions, machine and commit, for every record."""
    import numba
    import numpy
    import torch

    import mt2st

    cpu = cpu_model()
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else None
    return {"mt2st": mt2st.__version__, "git_commit": git_commit(), "python": platform.python_version(),
            "numpy": numpy.__version__, "torch": torch.__version__, "numba": numba.__version__,
            "pandas": pd.__version__, "cpu": cpu, "gpu": gpu, "threads": threads,
            "hostname": platform.node()}


def write_parquet_atomic(df: pd.DataFrame, path: str | Path, meta: dict | None = None) -> Path:
    """Write ``df`` to ``path`` through a temporary file and ``os.replace``: readers see the
    old file or the whole new one, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    if meta is not None:
        merged = dict(table.schema.metadata or {})
        merged[META_KEY] = json.dumps(meta, default=str).encode()
        table = table.replace_schema_metadata(merged)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_meta(path: str | Path) -> dict:
    """The provenance dictionary stored in a record's Parquet metadata."""
    raw = (pq.read_schema(path).metadata or {}).get(META_KEY)
    return json.loads(raw) if raw else {}
