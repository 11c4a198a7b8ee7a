"""Run records: one row per evaluation plus provenance, written atomically as Parquet that pandas reads
without mt2st (the full config is also a JSON column)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mt2st.data.files import umask_mode
from mt2st.errors import ConfigError

META_KEY = b"mt2st"
#: version of the record layout: 2 = one row per evaluation (step, examples, fractional epoch,
#: cumulative work); records without the column are version 1 (one row per epoch)
SCHEMA_VERSION = 2

#: what a record's FLOP columns count, by model (its ``flop_model`` column; a record without
#: that column is model 2 if it has ``flops_optimizer``, else model 1). Every model counts a
#: pass backward as twice its forward (3× the forward in all).
FLOP_MODELS = {
    1: "each task's forward and backward passes and the weighting's own arithmetic on the "
       "gradients, but not the optimisers' updates",
    2: "each task's forward and backward passes, the weighting's own arithmetic on the "
       "gradients and the optimisers' updates (the table's touched rows, the model's weights), "
       "with the lexical tasks' forward passes short of the similarity pair's unit vectors and "
       "the analogy candidates' norms and unit vectors",
    3: "each task's whole forward and backward passes, the weighting's own arithmetic on the "
       "gradients and the optimisers' updates (the table's touched rows, the model's weights)",
}
#: the model this code's records are written in
FLOP_MODEL = max(FLOP_MODELS)


def flop_models(rows: pd.DataFrame) -> pd.Series:
    """The FLOP model of each run in ``rows`` (indexed by ``run_id``)."""
    model = (rows["flop_model"] if "flop_model" in rows
             else pd.Series(float("nan"), index=rows.index))
    if "flops_optimizer" in rows:
        model = model.fillna(rows["flops_optimizer"].notna().map({True: 2.0, False: 1.0}))
    return model.fillna(1.0).astype(int).groupby(rows["run_id"]).min()


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


def _replace_atomically(path: Path, write) -> Path:
    """``write(tmp)`` into a temporary file beside ``path``, fsync it, then ``os.replace``:
    readers see the old file or the whole new one, never a partial one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        umask_mode(tmp)
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_parquet_atomic(df: pd.DataFrame, path: str | Path, meta: dict | None = None) -> Path:
    """Write ``df`` to ``path`` as Parquet, atomically (``meta``: provenance in the footer)."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    if meta is not None:
        merged = dict(table.schema.metadata or {})
        merged[META_KEY] = json.dumps(meta, default=str).encode()
        table = table.replace_schema_metadata(merged)
    return _replace_atomically(Path(path), lambda tmp: pq.write_table(table, tmp))


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` (UTF-8), atomically."""
    return _replace_atomically(Path(path), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def read_meta(path: str | Path) -> dict:
    """The provenance dictionary stored in a record's Parquet metadata."""
    raw = (pq.read_schema(path).metadata or {}).get(META_KEY)
    return json.loads(raw) if raw else {}


class ResultsStore:
    """A folder: ``runs/<run_id>.parquet`` (one complete record per run, all with the same
    columns, so ``pandas.read_parquet(folder/'runs')`` reads the whole store) and
    ``failures/<run_id>.json`` (config, error and traceback of runs that raised)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.runs = self.root / "runs"
        self.failures = self.root / "failures"
        self.quarantine = self.root / "quarantine"
        self.moved_aside: list[str] = []  # what has_valid moved aside, for the caller to say

    def run_path(self, rid: str) -> Path:
        return self.runs / f"{rid}.parquet"

    def has(self, rid: str) -> bool:
        return self.run_path(rid).is_file()

    def has_valid(self, rid: str) -> bool:
        """Whether the run's record exists and passes :func:`record_problem`; a record that
        does not is moved to ``quarantine/`` (kept for inspection, never read again), with a
        note in ``quarantine/notes.txt``, so that the run is done again."""
        path = self.run_path(rid)
        if not path.is_file():
            return False
        problem = record_problem(path)
        if problem is None:
            return True
        self.quarantine.mkdir(parents=True, exist_ok=True)
        moved = self.quarantine / f"{rid}.{time.strftime('%Y%m%dT%H%M%S')}.parquet"
        os.replace(path, moved)
        with (self.quarantine / "notes.txt").open("a", encoding="utf-8") as f:
            f.write(f"{moved.name}: {problem}\n")
        self.moved_aside.append(f"{rid}: {problem} (moved to {moved})")
        return False

    def run_ids(self) -> list[str]:
        return sorted(p.stem for p in self.runs.glob("*.parquet")) if self.runs.is_dir() else []

    def prune(self, keep: set[str]) -> list[str]:
        """Move the records whose run is not in ``keep`` to ``stale/`` (kept, never read
        again), so that the store holds exactly one sweep's runs; returns their ids."""
        stale = [rid for rid in self.run_ids() if rid not in keep]
        if stale:
            folder = self.root / "stale"
            folder.mkdir(parents=True, exist_ok=True)
            for rid in stale:
                os.replace(self.run_path(rid), folder / f"{rid}.parquet")
        return stale

    def record_failure(self, config, error: str) -> Path:
        """Write ``failures/<run_id>.json`` atomically (a unique temporary per writer, removed
        when the write fails: a full disk leaves no partial file behind)."""
        text = json.dumps({"run_id": config.run_id, "config": config.to_dict(), "error": error},
                          indent=2, default=str)
        return write_text_atomic(self.failures / f"{config.run_id}.json", text)

    def clear_failure(self, rid: str) -> None:
        (self.failures / f"{rid}.json").unlink(missing_ok=True)

    def failed(self) -> list[dict]:
        if not self.failures.is_dir():
            return []
        return [json.loads(p.read_text()) for p in sorted(self.failures.glob("*.json"))]

    def load(self) -> pd.DataFrame:
        """All evaluation rows of all complete runs (records of an older layout refused). The
        records are read and checked as Arrow tables and converted to pandas once: one
        conversion per record cost more than the reading."""
        ids = self.run_ids()
        if not ids:
            raise ConfigError(f"{self.runs}: no run records (run a sweep first)")
        tables, bad = [], []
        paths = [self.run_path(r) for r in ids]
        # each record read once, and checked; Parquet decoding releases the GIL, so a few
        # threads read side by side (the results in the ids' order, the same tables)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(4, usable_cpus())) as pool:
            for path, (table, problem) in zip(paths, pool.map(checked_record, paths), strict=True):
                tables.append(table)
                if problem:
                    bad.append(f"{path}: {problem}")
        if bad:
            raise ConfigError(f"{len(bad)} invalid record(s) in the store, none of them read: "
                              + "; ".join(bad[:3]) + ("; ..." if len(bad) > 3 else "")
                              + ". Run the sweep again (mt2st reproduce with the same config): it "
                                "moves them to quarantine/ and runs them again.")
        # columns a record lacks (another task set's) become nulls, as pandas.concat would
        return pa.concat_tables(tables, promote_options="permissive").to_pandas()


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


#: columns every record must have (the rest of the schema follows from the code that wrote it)
REQUIRED_COLUMNS = ("schema_version", "run_id", "cell_id", "seed", "step", "examples", "epoch",
                    "val_acc", "test_acc", "train_seconds", "wall_seconds", "eval_seconds",
                    "diverged", "config_json")


def record_problem(path: str | Path) -> str | None:
    """What is wrong with a stored record (None: nothing): unreadable or truncated Parquet,
    another layout, missing columns, no rows, another run's id, or a run cut short (the last
    row neither reaches the configured epochs nor marks divergence or a stop at the target)."""
    return checked_record(path)[1]


def checked_record(path: str | Path) -> tuple[pa.Table | None, str | None]:
    """(the record's rows as an Arrow table or None, what is wrong with it or None), from
    one read."""
    path = Path(path)
    try:
        table = read_record(path)
    except ConfigError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 (any reader failure means a bad file)
        return None, f"unreadable ({type(exc).__name__}: {str(exc)[:200]})"
    return table, _table_problem(table, path)


def _table_problem(table: pa.Table, path: Path) -> str | None:
    """The checks of :func:`record_problem` on rows already read."""
    names = set(table.column_names)
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        return f"missing columns {missing}"
    if table.num_rows == 0:
        return "no rows"
    run_ids = set(table.column("run_id").unique().to_pylist())
    if run_ids != {path.stem}:
        return f"holds run {sorted(run_ids, key=str)}, not {path.stem}"
    steps = table.column("step").to_numpy()
    if (np.diff(steps) < 0).any():
        return "evaluation rows out of order"
    try:
        config = json.loads(table.column("config_json")[0].as_py())
    except (TypeError, ValueError):
        return "config_json is not JSON"
    last = table.slice(table.num_rows - 1).to_pylist()[0]
    finished = abs(float(last["epoch"]) - float(config.get("epochs", last["epoch"]))) < 1e-9
    stopped = bool(config.get("stop_at_target")) and last["val_acc"] >= config.get("target", 1.0)
    if not (finished or bool(last["diverged"]) or stopped):
        return f"cut short at epoch {float(last['epoch']):.3g} of {config.get('epochs')}"
    return None


def read_record(path: str | Path) -> pa.Table:
    """One run record as an Arrow table. A record of an older layout (one row per epoch,
    schema 1) is refused with a message: its per-epoch times would be misread as evaluations
    of this protocol."""
    if Path(path).is_dir():  # a reader would take a folder for a dataset of its files
        raise ConfigError(f"{path}: a folder where a run record (a Parquet file) should be")
    table = pq.ParquetFile(path).read()
    version = (int(table.column("schema_version")[0].as_py())
               if "schema_version" in table.column_names and table.num_rows else 1)
    if version != SCHEMA_VERSION:
        raise ConfigError(
            f"{path}: record layout {version}, this mt2st reads layout {SCHEMA_VERSION} "
            f"(one row per evaluation on a fixed schedule). Layout 1 had one row per epoch, "
            f"whose times cannot be compared with this protocol's: run the sweep again into a "
            f"new folder (or delete {Path(path).parent}).")
    return table
