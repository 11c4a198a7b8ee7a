"""Sweeps: a grid of training runs from a TOML file, run by local processes or a Dask cluster,
resumable (a run whose record exists is skipped), each record written atomically to the
results store; failed runs are recorded with their error and retried on the next call."""

from __future__ import annotations

import itertools
import json
import os
import re
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from mt2st.config import SEED_LIMIT, TrainConfig, read_toml
from mt2st.data.sources import ENV_VAR as DATA_ENV_VAR
from mt2st.errors import ConfigError, check_keys
from mt2st.results import ResultsStore
from mt2st.tune import TuneSpec, knob_values, read_chosen

SWEEP_TABLES = ("sweep", "base", "regime", "grid", "extra", "report", "tune")
SWEEP_KEYS = ("name", "seeds", "estimate", "tuned", "replicas")
REPORT_KEYS = ("init", "setting", "target", "ladder", "overlay_authors", "seed_sets",
               "positive_dataset")


@dataclass
class SweepSpec:
    """``[base]`` keys for every run, ``[grid]`` lists crossed with each other and ``seeds``,
    ``[[regime]]`` bundles of keys that belong together (a dataset with its training size and
    epochs), each crossed with the grid (a list under a grid key replaces the grid's list for
    that regime; ``label`` names a regime), ``[[extra]]`` single cells added to the grid (also
    crossed with the seeds), ``[report]`` options for the report, ``[tune]`` how the knobs
    are tuned (:class:`mt2st.tune.TuneSpec`) and ``[sweep] tuned`` the file (next to the TOML)
    of tuned knobs, which override a regime's values for each strategy. STL runs are
    normalised to setting S0 (no auxiliary work)."""

    name: str
    base: dict
    grid: dict[str, list]
    seeds: list[int]
    extra: list[dict] = field(default_factory=list)
    report: dict = field(default_factory=dict)
    estimate: str = ""
    regimes: list[dict] = field(default_factory=list)
    tune: TuneSpec | None = None
    tuned: dict[tuple[str, str], dict] = field(default_factory=dict)  # (label, strategy) -> knobs
    tuned_path: Path | None = None
    replicas: int = 0  # [sweep] replicas: STL cells rerun as their own replica cells

    @property
    def labels(self) -> list[str]:
        """Each regime's label (``regime N`` where none is given)."""
        return [r.get("label", f"regime {i}") for i, r in enumerate(self.regimes, 1)]

    @classmethod
    def from_toml(cls, path: str | Path, tuned: bool = True) -> SweepSpec:
        """Read and validate a sweep TOML; ``tuned=False`` leaves its tuned values out (and
        does not need their file), as the tuning itself does."""
        path = Path(path)
        raw = read_toml(path)
        sweep = raw.get("sweep", {})
        check_keys(raw, SWEEP_TABLES, f"{path}: table")
        for name in ("sweep", "base", "grid", "report", "tune"):
            if name in raw and not isinstance(raw[name], dict):
                raise ConfigError(f"{path}: {name} must be a table ([{name}] and its keys), got "
                                  f"{raw[name]!r}")
        for name in ("regime", "extra"):
            if name in raw and not (isinstance(raw[name], list)
                                    and all(isinstance(x, dict) for x in raw[name])):
                raise ConfigError(f"{path}: {name} must be tables written [[{name}]], got "
                                  f"{raw[name]!r}")
        check_keys(sweep, SWEEP_KEYS, f"{path}: [sweep] key")
        check_keys(raw.get("report", {}), REPORT_KEYS, f"{path}: [report] key")
        if not any(raw.get(t) for t in ("base", "grid", "regime", "extra")):
            raise ConfigError(f"{path}: no [base], [grid], [[regime]] or [[extra]]: the sweep "
                              f"would run the default configuration only; say what to run")
        seeds = sweep.get("seeds", [0])
        if not isinstance(seeds, list) or not seeds or not all(
                isinstance(s, int) and not isinstance(s, bool) and 0 <= s < SEED_LIMIT for s in seeds):
            raise ConfigError(f"{path}: [sweep] seeds must be a non-empty list of whole numbers "
                              f"from 0 to 2**63 - 1, got {seeds!r}")
        if len(set(seeds)) != len(seeds):
            raise ConfigError(f"{path}: [sweep] seeds {seeds} repeat a seed (a run is its config "
                              f"and seed: a repeated seed is the same run)")
        for table in ("base", "grid"):
            if "seed" in (raw.get(table) or {}):
                raise ConfigError(f"{path}: [{table}] seed: seeds go in [sweep] seeds (which "
                                  f"would replace it)")
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
        name = sweep.get("name", path.stem)
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            raise ConfigError(f"{path}: [sweep] name {name!r} must be a plain folder name (letters, "
                              f"digits, '.', '_', '-'): it names the results folder")
        replicas = sweep.get("replicas", 0)
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise ConfigError(f"{path}: [sweep] replicas must be a whole number >= 0 (replica "
                              f"cells of each STL cell), got {replicas!r}")
        spec = cls(name, raw.get("base", {}), grid, list(seeds),
                   raw.get("extra", []), raw.get("report", {}), sweep.get("estimate", ""),
                   regimes, replicas=replicas)
        labels = spec.labels
        if not all(isinstance(label, str) for label in labels):
            raise ConfigError(f"{path}: a [[regime]] label must be a string, got {labels!r}")
        if len(set(labels)) != len(labels):
            raise ConfigError(f"{path}: two [[regime]] tables have the same label")
        if "tune" in raw:
            spec.tune = TuneSpec.from_table(raw["tune"], path, labels, spec.seeds)
        if "tuned" in sweep:
            if spec.tune is None:
                raise ConfigError(f"{path}: [sweep] tuned needs a [tune] table (how they were tuned)")
            spec.tuned_path = path.parent / sweep["tuned"]
        if spec.tuned_path is not None and tuned:
            spec.tuned = read_chosen(spec.tuned_path)
            unknown = sorted({label for label, _ in spec.tuned} - set(spec.tune.regimes))
            if unknown:
                raise ConfigError(f"{spec.tuned_path}: regimes {unknown} are not tuned by "
                                  f"[tune] regimes; run `mt2st tune` again")
        spec.configs(source=str(path))  # validate every cell now, not mid-sweep
        return spec

    def regime_cells(self, label: str | None = None, tuned: bool = True) -> list[dict]:
        """The grid's cells (keys beyond [base]) of every regime, or of the one labelled
        ``label``, with the tuned knobs of their strategy applied unless ``tuned`` is false
        (seeds not included)."""
        keys = list(self.grid)
        out = []
        for name, regime in zip(self.labels or [None], self.regimes or [{}], strict=True):
            if label is not None and name != label:
                continue
            regime = {k: v for k, v in regime.items() if k != "label"}
            source = self.tune.transfer.get(name, name) if self.tune else name
            for combo in itertools.product(*(regime.get(k, self.grid[k]) for k in keys)):
                cell = {**regime, **dict(zip(keys, combo, strict=True))}
                strategy = cell.get("strategy", self.base.get("strategy", TrainConfig.strategy))
                if not isinstance(strategy, str):
                    raise ConfigError(f"strategy must be a string (a [grid] list holds several), "
                                      f"got {strategy!r}")
                knobs = self.tuned.get((source, strategy)) if tuned else None
                if knobs:
                    epochs = cell.get("epochs", self.base.get("epochs", TrainConfig.epochs))
                    cell.update(knob_values(knobs, epochs))
                out.append(cell)
        return out

    def configs(self, source: str = "sweep") -> list[TrainConfig]:
        """Every run of the sweep (with ``replicas`` replica cells of each STL cell),
        deduplicated by configuration, in blocked, rotated order (:func:`blocked_order`)."""
        cells = self.regime_cells() + [dict(e) for e in self.extra]
        configs = expand_seeds(self.base, cells, self.seeds, source)
        stl = [c for c in configs if c.strategy == "stl" and not c.replica]
        configs += [c.replace(replica=k) for k in range(1, self.replicas + 1) for c in stl]
        return blocked_order(configs, self.seeds)


def expand_seeds(base: dict, cells: list[dict], seeds: list[int],
                 source: str = "sweep") -> list[TrainConfig]:
    """``base`` with each cell and seed, as configurations, deduplicated, in a stable order
    (cell by cell; a sweep runs them in :func:`blocked_order`)."""
    out: dict[str, TrainConfig] = {}
    for cell in cells:
        for seed in seeds:
            try:
                cfg = TrainConfig.from_dict({**base, **cell, "seed": seed}, source=source)
            except ConfigError as exc:  # say which file and which cell
                where = ", ".join(f"{k} = {v!r}" for k, v in cell.items()) or "[base] alone"
                message = str(exc).removeprefix(f"{source}: ")
                raise ConfigError(f"{source}: the cell {where}: {message}") from None
            out.setdefault(cfg.run_id, cfg)  # STL is normalised to S0
    return list(out.values())


def blocked_order(configs: list[TrainConfig], seeds: list[int] | None = None) -> list[TrainConfig]:
    """The runs a report compares next to each other: one block per (seed, workload), every
    cell of that workload in it, blocks seed by seed; within a block the cells' order is
    rotated by one place from one seed to the next, so no strategy always runs first (or
    last) and a slow spell of the machine lands on both sides of a comparison. Deterministic:
    a resumed sweep keeps the order of the runs it has left."""
    seeds = list(dict.fromkeys(seeds if seeds is not None else [c.seed for c in configs]))
    seeds += sorted({c.seed for c in configs} - set(seeds))
    cells: dict[str, list[str]] = {}  # workload -> its cells, in first-seen order
    blocks: dict[tuple[int, str], dict[str, TrainConfig]] = {}
    for c in configs:
        workload, cell = c.workload_id, c.cell_id
        members = cells.setdefault(workload, [])
        if cell not in members:
            members.append(cell)
        blocks.setdefault((c.seed, workload), {})[cell] = c
    out = []
    for k, seed in enumerate(seeds):
        for workload, members in cells.items():
            block = blocks.get((seed, workload), {})
            turn = k % len(members)
            out += [block[m] for m in members[turn:] + members[:turn] if m in block]
    return out


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
        error = f"{type(exc).__name__}: {exc}"
        try:
            store.record_failure(config, "".join(traceback.format_exception(exc)))
        except OSError as write_error:  # a full disk or a read-only store: say so, go on
            error += f" (and its failure could not be recorded in {store.failures}: " \
                     f"{write_error.strerror or write_error})"
        return {"run_id": rid, "status": "failed", "error": error,
                "seconds": time.perf_counter() - t0}


def core_seconds() -> float | None:
    """CPU seconds (user + system) of this process and of its finished children: a sweep's
    local workers count once they have been joined. None where ``resource`` is missing."""
    try:
        import resource
    except ImportError:  # not a Unix
        return None
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


@dataclass
class SweepResult:
    total: int
    skipped: int
    ran: list[dict]
    moved_aside: list[str] = field(default_factory=list)  # invalid records found and redone
    seconds: float = 0.0  # wall time of the sweep
    core_seconds: float | None = None  # CPU seconds on this machine (None: Dask workers elsewhere)

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.ran if r["status"] != "ok"]


def timing_summary(result: SweepResult, out: str | Path, report_seconds: float,
                   report_core_seconds: float | None) -> dict:
    """Where a sweep's time went: its wall time and core-seconds, the training clock (CPU) and
    the evaluations summed over the runs it trained, and the report's time; the training share
    is of the sweep's core-seconds (the report apart). Written as ``timing.json``."""
    import pandas as pd

    store = ResultsStore(out)
    ok = [r["run_id"] for r in result.ran if r["status"] == "ok" and store.has(r["run_id"])]
    train_cpu = evaluation = 0.0
    for rid in ok:
        rows = pd.read_parquet(store.run_path(rid), columns=["train_cpu_seconds", "eval_seconds"])
        train_cpu += float(rows["train_cpu_seconds"].max())
        evaluation += float(rows["eval_seconds"].sum())
    core = result.core_seconds
    return {"runs_trained": len(ok), "sweep_seconds": result.seconds, "sweep_core_seconds": core,
            "training_cpu_seconds": train_cpu, "evaluation_seconds": evaluation,
            "training_share": train_cpu / core if core else None,
            "report_seconds": report_seconds, "report_core_seconds": report_core_seconds}


def run_sweep(spec: SweepSpec, out: str | Path, jobs: int = 1, executor: str = "local",
              scheduler: str | None = None, data_dir: str | None = None,
              progress: bool | None = None) -> SweepResult:
    """Run every configuration of ``spec`` whose record is not yet in the store at ``out``."""
    return run_configs(spec.configs(), out, spec.name, jobs, executor, scheduler, data_dir,
                       progress)


def run_configs(configs: list[TrainConfig], out: str | Path, name: str, jobs: int = 1,
                executor: str = "local", scheduler: str | None = None,
                data_dir: str | None = None, progress: bool | None = None) -> SweepResult:
    """Run every configuration whose record is not yet in the store at ``out`` (each once)."""
    t0, cpu0 = time.perf_counter(), core_seconds()
    store = ResultsStore(out)
    configs = list({c.run_id: c for c in configs}.values())
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ConfigError(f"jobs must be a whole number >= 1, got {jobs!r}")
    todo = [c for c in configs if not store.has_valid(c.run_id)]  # bad records: redone
    preflight(todo, data_dir)
    # absolute paths: a worker (a Dask worker above all) may run in another folder, and may
    # not have the client's environment: $MT2ST_DATA_DIR is resolved here and passed on
    root = str(store.root.resolve())
    data_dir = data_dir if data_dir is not None else os.environ.get(DATA_ENV_VAR) or None
    data = None if data_dir is None else str(Path(data_dir).expanduser().resolve())
    jobs = min(jobs, max(len(todo), 1))  # no idle worker processes
    args = [(c.to_dict(), root, data) for c in todo]
    bar = tqdm(total=len(todo), desc=f"sweep {name}", unit="run",
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
    cpu1 = core_seconds()
    used = None if executor == "dask" or cpu0 is None or cpu1 is None else cpu1 - cpu0
    return SweepResult(len(configs), len(configs) - len(todo), ran, list(store.moved_aside),
                       time.perf_counter() - t0, used)


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
        # priorities keep the blocked order on the cluster (higher runs first)
        futures = [client.submit(execute_run, *a, pure=False, priority=len(args) - i)
                   for i, a in enumerate(args)]
        for f in as_completed(futures):
            yield f.result()
    finally:
        if client_factory is None:
            client.close()
