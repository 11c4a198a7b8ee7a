"""Shared fixtures: the real data folder (../shared/data or $MT2ST_DATA_DIR)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _data_dir() -> Path | None:
    """$MT2ST_DATA_DIR, ../shared/data, or the download cache once ``mt2st data fetch`` filled
    it (tests themselves never download)."""
    from mt2st.data.sources import RESOURCES, cache_dir

    env = os.environ.get("MT2ST_DATA_DIR")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data", cache_dir()]:
        if not any(r.missing(cand / name) for name, r in RESOURCES.items() if name != "imdb"):
            return cand
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    found = _data_dir()
    if found is None:
        pytest.skip("real data not found: run `mt2st data fetch` (downloads ~15 MB), or set "
                    "MT2ST_DATA_DIR to a local copy")
    return found


@pytest.fixture(autouse=True)
def _no_downloads(monkeypatch):
    """Tests never touch the network: a download attempt fails at once."""
    monkeypatch.setenv("MT2ST_OFFLINE", "1")
