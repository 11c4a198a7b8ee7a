"""Shared fixtures: the real data folder (../shared/data or $MT2ST_DATA_DIR)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _data_dir() -> Path | None:
    env = os.environ.get("MT2ST_DATA_DIR")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if (cand / "sst2" / "train.tsv").is_file():
            return cand
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    found = _data_dir()
    if found is None:
        pytest.skip("real data not found: set MT2ST_DATA_DIR to ../shared/data")
    return found


@pytest.fixture(autouse=True)
def _no_downloads(monkeypatch):
    """Tests never touch the network: a download attempt fails at once."""
    monkeypatch.setenv("MT2ST_OFFLINE", "1")
