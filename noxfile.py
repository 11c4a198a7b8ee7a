"""nox sessions. ``nox`` runs lint and tests. torch is pinned to 2.13.0, the CPU wheel on this
machine (any other spec downloads CUDA wheels)."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

TORCH = "torch==2.13.0"
HERE = os.path.dirname(os.path.abspath(__file__))


def _install(session: nox.Session) -> None:
    session.install(TORCH)
    session.install("-e", ".[dev]")


def _env() -> dict[str, str]:
    default = os.path.join(os.path.dirname(HERE), "shared", "data")
    return {"MT2ST_DATA_DIR": os.environ.get("MT2ST_DATA_DIR", default)}


@nox.session(reuse_venv=True)
def lint(session: nox.Session) -> None:
    """ruff over the package, tests, benchmarks and this file."""
    session.install("ruff")
    session.run("ruff", "check", "mt2st", "tests", "bench", "noxfile.py")


@nox.session(reuse_venv=True)
def tests(session: nox.Session) -> None:
    """The test suite (the README's test command)."""
    _install(session)
    session.run("pytest", "-q", *session.posargs, env=_env())


@nox.session(reuse_venv=True)
def gpu(session: nox.Session) -> None:
    """The CUDA-marked tests (they skip where no GPU exists), then, on a GPU, the throughput
    benchmark (bench/gpu_throughput.py: sg on the shared corpus repeated to 50M tokens)."""
    _install(session)
    session.run("pytest", "-q", "-m", "cuda", *session.posargs, env=_env())
    has_gpu = session.run("python", "-c", "import torch; print(torch.cuda.is_available())",
                          silent=True)
    if has_gpu and has_gpu.strip() == "True":
        session.run("python", "bench/gpu_throughput.py", env=_env())


@nox.session(reuse_venv=True)
def bench(session: nox.Session) -> None:
    """pytest-benchmark suites: kernels beside gensim, quality parity, time to accuracy.
    Compare with a saved run: nox -s bench -- --benchmark-compare --benchmark-compare-fail=mean:10%"""
    _install(session)
    session.run("pytest", "bench", "--benchmark-autosave", "--benchmark-json=.benchmarks/latest.json",
                *session.posargs, env=_env())


@nox.session(reuse_venv=True)
def asv(session: nox.Session) -> None:
    """asv check, a quick run of the fast profile on this environment, publish, and a
    headless-Chromium check that the dashboard renders its benchmark list."""
    _install(session)
    env = {**_env(), "MT2ST_ASV_PROFILE": os.environ.get("MT2ST_ASV_PROFILE", "fast")}
    session.run("asv", "check", "--python=same", env=env)
    session.run("asv", "machine", "--yes", env=env)
    commit = session.run("git", "rev-parse", "HEAD", silent=True, external=True).strip()
    session.run("asv", "run", "--python=same", "--quick", f"--set-commit-hash={commit}",
                "--show-stderr", env=env)
    session.run("asv", "publish", env=env)
    session.run("python", "bench/check_asv_html.py", "html", "--screenshot", "html/screenshot.png",
                env=env)


@nox.session(reuse_venv=True)
def reproduce(session: nox.Session) -> None:
    """The README's main job: mt2st reproduce --quick."""
    _install(session)
    session.run("mt2st", "reproduce", "--quick", *session.posargs, env=_env())


@nox.session(reuse_venv=True)
def figures(session: nox.Session) -> None:
    """Only the report and figures, from stored results (default results/quick)."""
    _install(session)
    results = session.posargs[0] if session.posargs else "results/quick"
    session.run("mt2st", "report", results, env=_env())
