"""Sweeps: a grid of training runs from a TOML file, run by local processes or a Dask cluster,
resumable (a run whose record exists is skipped), each record written atomically to the
results store; failed runs are recorded with their error and retried on the next call."""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from mt2st.config import TrainConfig
from mt2st.data.sources import ENV_VAR as DATA_ENV_VAR
from mt2st.errors import ConfigError, MT2STError
from mt2st.results import ResultsStore
from mt2st.spec import (  # noqa: F401 (the spec's names, where callers have found them)
    REPORT_KEYS,
    SWEEP_KEYS,
    SWEEP_TABLES,
    SweepSpec,
    blocked_order,
    expand_seeds,
)


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
    """Workers leave Ctrl-C to the parent, which ends them (no traceback from each worker).
    Their progress bars take a thread lock: tqdm's default is a multiprocessing lock, a named
    semaphore that a worker ended by the parent never releases, which the resource tracker
    then reports as leaked at shutdown."""
    import signal
    import threading

    from tqdm.auto import tqdm as bar

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    bar.set_lock(threading.RLock())


#: seconds to reach the Dask scheduler before giving up, and without any worker before the
#: sweep stops (its finished runs stay in the store)
DASK_CONNECT_TIMEOUT, DASK_NO_WORKER_TIMEOUT = 20.0, 120.0
#: a scheduler address: [tcp|tls|ucx|ws|wss://]host[:port], or inproc://... (in-process clusters)
_ADDRESS = re.compile(r"^(((tcp|tls|ucx|ws|wss)://)?[^\s/:]+(:\d{1,5})?/?|inproc://\S+)$", re.IGNORECASE)


class SweepStopped(MT2STError):
    """The executor went away mid-sweep; the finished runs are in the store."""


def _dask_map(args: list[tuple], scheduler: str | None,
              client_factory: Callable | None = None,
              connect_timeout: float = DASK_CONNECT_TIMEOUT,
              no_worker_timeout: float = DASK_NO_WORKER_TIMEOUT) -> Iterable[dict]:
    """Run ``execute_run`` over ``args`` on a Dask cluster, results as they come. Fails with
    a message (never a hang or a traceback) when the scheduler cannot be reached, when it goes
    away mid-sweep, and when no worker is left for ``no_worker_timeout`` seconds."""
    try:
        from distributed import Client, wait
    except ImportError:
        raise ConfigError("the dask executor needs the 'dask' extra: pip install 'mt2st[dask]'") from None
    if scheduler is None:
        raise ConfigError("the dask executor needs --scheduler ADDRESS (e.g. tcp://host:8786)")
    if not _ADDRESS.match(scheduler.strip()):
        raise ConfigError(f"--scheduler {scheduler!r}: expected an address such as "
                          f"tcp://host:8786 or host:8786")
    resume = "the finished runs are in the store: the same command resumes from there"
    try:
        client = (Client(scheduler, timeout=connect_timeout) if client_factory is None
                  else client_factory(scheduler))
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"could not reach the Dask scheduler at {scheduler} within "
                          f"{connect_timeout:g} s ({type(exc).__name__}): is it running, and is "
                          f"the address right?") from None
    done = 0

    def gone(exc: BaseException) -> SweepStopped:
        return SweepStopped(f"the Dask scheduler at {scheduler} went away after {done} of "
                            f"{len(args)} runs ({type(exc).__name__}); {resume}")

    try:
        # priorities keep the blocked order on the cluster (higher runs first)
        pending = {client.submit(execute_run, *a, pure=False, priority=len(args) - i)
                   for i, a in enumerate(args)}
        idle_since, poll = None, min(5.0, max(no_worker_timeout / 4, 0.05))
        while pending:
            try:
                finished, pending = wait(pending, timeout=poll, return_when="FIRST_COMPLETED")
            except TimeoutError:
                finished = set()
            except Exception as exc:  # the connection, not a run: runs report their own errors
                raise gone(exc) from None
            for f in finished:
                try:
                    result = f.result()
                except Exception as exc:  # cancelled or lost with the scheduler, not a run's error
                    raise gone(exc) from None
                yield result
                done += 1
            if finished:
                idle_since = None
                continue
            try:
                workers = len(client.scheduler_info().get("workers", {}))
            except Exception as exc:
                raise gone(exc) from None
            if workers:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > no_worker_timeout:
                raise SweepStopped(f"no Dask worker left at {scheduler} for {no_worker_timeout:g} s "
                                   f"after {done} of {len(args)} runs; start workers (dask worker "
                                   f"{scheduler}) and run the same command: {resume}")
    finally:
        if client_factory is None:
            with contextlib.suppress(Exception):  # a scheduler that died cannot say goodbye
                client.close(timeout=5)
