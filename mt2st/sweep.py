"""Sweeps: a grid of training runs from a TOML file, run by local processes or a Dask cluster,
resumable (a run whose record exists is skipped), each record written atomically to the
results store; failed runs are recorded with their error and retried on the next call."""

from __future__ import annotations

import itertools
import json
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from mt2st.config import TrainConfig, read_toml
from mt2st.errors import ConfigError, check_keys
from mt2st.results import ResultsStore

SWEEP_TABLES = ("sweep", "base", "regime", "grid", "extra", "report")
SWEEP_KEYS = ("name", "seeds", "estimate")
REPORT_KEYS = ("init", "setting", "target", "ladder", "overlay_authors")


@dataclass
class SweepSpec:
    """``[base]`` keys for every run, ``[grid]`` lists crossed with each other and ``seeds``,
    ``[[regime]]`` bundles of keys that belong together (a dataset with its training size and
    epochs), each crossed with the grid (a list under a grid key replaces the grid's list for
    that regime), ``[[extra]]`` single cells added to the grid (also
    crossed with the seeds), ``[report]`` options for the report. STL runs are normalised to
    setting S0 (no auxiliary work)."""

    name: str
    base: dict
    grid: dict[str, list]
    seeds: list[int]
    extra: list[dict] = field(default_factory=list)
    report: dict = field(default_factory=dict)
    estimate: str = ""
    regimes: list[dict] = field(default_factory=list)

    @classmethod
    def from_toml(cls, path: str | Path) -> SweepSpec:
        path = Path(path)
        raw = read_toml(path)
        sweep = raw.get("sweep", {})
        check_keys(raw, SWEEP_TABLES, f"{path}: table")
        check_keys(sweep, SWEEP_KEYS, f"{path}: [sweep] key")
        check_keys(raw.get("report", {}), REPORT_KEYS, f"{path}: [report] key")
        seeds = sweep.get("seeds", [0])
        if not seeds or not all(isinstance(s, int) for s in seeds):
            raise ConfigError(f"{path}: [sweep] seeds must be a non-empty list of integers")
        grid = raw.get("grid", {})
        for key, values in grid.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{path}: [grid] {key} must be a non-empty list")
        regimes = raw.get("regime", [])
        if not isinstance(regimes, list) or not all(isinstance(r, dict) and r for r in regimes):
            raise ConfigError(f"{path}: regimes are written [[regime]], each a table of keys")
        for i, regime in enumerate(regimes, 1):
            for key in set(regime) & set(grid):
                if not isinstance(regime[key], list) or not regime[key]:
                    raise ConfigError(f"{path}: [[regime]] {i}: {key} is a [grid] key, so it must "
                                      f"be a non-empty list (it replaces the grid's list there)")
        spec = cls(sweep.get("name", path.stem), raw.get("base", {}), grid, list(seeds),
                   raw.get("extra", []), raw.get("report", {}), sweep.get("estimate", ""),
                   regimes)
        spec.configs(source=str(path))  # validate every cell now, not mid-sweep
        return spec

    def configs(self, source: str = "sweep") -> list[TrainConfig]:
        """Every run of the sweep, deduplicated by configuration, in a stable order."""
        keys = list(self.grid)
        cells = [{**regime, **dict(zip(keys, combo, strict=True))}
                 for regime in (self.regimes or [{}])
                 for combo in itertools.product(*(regime.get(k, self.grid[k]) for k in keys))]
        cells += [dict(e) for e in self.extra]
        out: dict[str, TrainConfig] = {}
        for cell in cells:
            for seed in self.seeds:
                raw = {**self.base, **cell, "seed": seed}
                cfg = TrainConfig.from_dict(raw, source=source)  # STL is normalised to S0
                out.setdefault(cfg.run_id, cfg)
        return list(out.values())


def execute_run(config_dict: dict, store_root: str, data_dir: str | None) -> dict:
    """Worker entry point (local process or Dask worker): train, write the record atomically,
    or record the failure. Returns a small status dictionary."""
    from mt2st.trainer import train

    config = TrainConfig.from_dict(config_dict)
    store = ResultsStore(store_root)
    rid = config.run_id
    t0 = time.perf_counter()
    try:
        record = train(config, data_dir=data_dir, progress=False)
        record.save(store.run_path(rid))
        store.clear_failure(rid)
        return {"run_id": rid, "status": "ok", "seconds": time.perf_counter() - t0}
    except Exception as exc:  # a failed run is recorded, the sweep goes on
        store.record_failure(config, "".join(traceback.format_exception(exc)))
        return {"run_id": rid, "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                "seconds": time.perf_counter() - t0}


@dataclass
class SweepResult:
    total: int
    skipped: int
    ran: list[dict]
    moved_aside: list[str] = field(default_factory=list)  # invalid records found and redone

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.ran if r["status"] != "ok"]


def run_sweep(spec: SweepSpec, out: str | Path, jobs: int = 1, executor: str = "local",
              scheduler: str | None = None, data_dir: str | None = None,
              progress: bool | None = None) -> SweepResult:
    """Run every configuration of ``spec`` whose record is not yet in the store at ``out``."""
    store = ResultsStore(out)
    configs = spec.configs()
    todo = [c for c in configs if not store.has_valid(c.run_id)]  # bad records: redone
    preflight(todo, data_dir)
    # absolute paths: a worker (a Dask worker above all) may run in another folder
    root = str(store.root.resolve())
    data = None if data_dir is None else str(Path(data_dir).resolve())
    args = [(c.to_dict(), root, data) for c in todo]
    bar = tqdm(total=len(todo), desc=f"sweep {spec.name}", unit="run",
               disable=(not progress) if progress is not None else None)
    ran: list[dict] = []

    def collect(results: Iterable[dict]) -> None:
        for r in results:
            ran.append(r)
            bar.update(1)
            bar.set_postfix_str(f"{sum(x['status'] != 'ok' for x in ran)} failed")

    if executor == "dask":
        collect(_dask_map(args, scheduler))
    elif executor != "local":
        raise ConfigError(f"executor must be local or dask, got {executor!r}")
    elif jobs <= 1:
        collect(execute_run(*a) for a in args)
    else:
        collect(_process_map(args, jobs))
    bar.close()
    return SweepResult(len(configs), len(configs) - len(todo), ran, list(store.moved_aside))


def preflight(configs: list[TrainConfig], data_dir: str | None) -> None:
    """Fail once, before any run starts, when a dataset of the sweep cannot be found."""
    from mt2st.data import load_dataset

    seen = set()
    for c in configs:
        key = (c.dataset, c.data_seed, json.dumps(c.dataset_options, sort_keys=True))
        if key not in seen:
            seen.add(key)
            load_dataset(c.dataset, data_dir=data_dir, seed=c.data_seed, **c.dataset_options)


def _process_map(args: list[tuple], jobs: int) -> Iterable[dict]:
    """Run ``execute_run`` over ``args`` in ``jobs`` spawned processes, results as they come.
    Ctrl-C (or the caller stopping) ends the workers at once instead of waiting for the
    queue; records are written atomically, so the store then resumes exactly."""
    import multiprocessing as mp

    pool = mp.get_context("spawn").Pool(jobs, initializer=_ignore_sigint)
    try:
        yield from pool.imap_unordered(_execute_args, args)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def _execute_args(a: tuple) -> dict:
    return execute_run(*a)


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent, which ends them (no traceback from each worker)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _dask_map(args: list[tuple], scheduler: str | None,
              client_factory: Callable | None = None) -> Iterable[dict]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ConfigError("the dask executor needs the 'dask' extra: pip install 'mt2st[dask]'") from None
    if scheduler is None:
        raise ConfigError("the dask executor needs --scheduler ADDRESS (e.g. tcp://host:8786)")
    client = Client(scheduler) if client_factory is None else client_factory(scheduler)
    try:
        futures = [client.submit(execute_run, *a, pure=False) for a in args]
        for f in as_completed(futures):
            yield f.result()
    finally:
        if client_factory is None:
            client.close()
