"""nox sessions: ``nox`` runs lint and tests; torch is pinned to the local CPU build."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

TORCH = "torch==2.13.0"  # the CPU wheel available offline here; other specs pull CUDA wheels


def _install(session: nox.Session) -> None:
    session.install(TORCH)
    session.install("-e", ".[dev]")


def _data_env() -> dict[str, str]:
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(os.path.dirname(here), "shared", "data")
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
    session.run("pytest", "-q", *session.posargs, env=_data_env())
