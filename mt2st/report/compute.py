"""The report's compute layer: from evaluation rows to every table a report or a control
check reads (runs, cells, the target ladder, time to target, A/A pairs and noise floors,
calibrated comparisons, the performance profile, the auxiliary work's costs), with no
writing and no drawing."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from mt2st.report.aggregate import (
    Target,
    cell_ladder,
    ladder,
    ladder_reach,
    performance_profile,
    summarize_cells,
    summarize_runs,
    time_to_targets,
)
from mt2st.report.claims import COMPARISONS
from mt2st.report.costs import marginal_costs
from mt2st.report.verdicts import aa_points, compare_cells, noise_floor, workload_floors

#: the ladder of relative target levels scanned when a report names none: start, stop, step
DEFAULT_LEVELS = (0.90, 1.00, 0.01)


@dataclass
class Analysis:
    """Everything computed from one store (or one seed set of it)."""

    rows: pd.DataFrame
    runs: pd.DataFrame
    all_cells: pd.DataFrame  # replica cells included
    cells: pd.DataFrame  # without replica cells: what the tables and figures show
    scanned: list[Target]
    tta: pd.DataFrame
    ladder: pd.DataFrame
    points: pd.DataFrame  # A/A pairs at each level
    floor: float  # pooled noise floor on the verdict clock
    floors: dict[str, float]  # per workload (STL cell)
    comparisons: pd.DataFrame
    rho: pd.DataFrame
    profile: pd.DataFrame
    costs: pd.DataFrame  # the auxiliary work's marginal cost per cell, with its noise floor


def analyse(rows: pd.DataFrame, levels: tuple[float, float, float] | list[float] | None = None,
            main_target: Target | None = None) -> Analysis:
    """The whole compute layer. The ladder runs from ``levels``' start to its stop or, above
    1.00·STL-best, up to the best median accuracy any strategy reached on the workload."""
    runs = summarize_runs(rows)
    all_cells = summarize_cells(runs)
    cells = all_cells[all_cells["replica"] == 0].reset_index(drop=True)
    start, stop, step = levels or DEFAULT_LEVELS
    reach = ladder_reach(runs)
    top = math.floor(max(reach.values(), default=1.0) / step + 1e-9) * step
    scanned = ladder(start, max(stop, round(top, 6)), step)
    targets = scanned + ([main_target] if main_target and main_target not in scanned else [])
    tta = time_to_targets(rows, runs, targets, reach)
    lad = cell_ladder(tta)
    points = aa_points(tta)
    floor = noise_floor(points)
    floors = workload_floors(points)
    comparisons = compare_cells(tta, all_cells, COMPARISONS, floors, floor)
    rho, profile = performance_profile(lad, cells)
    return Analysis(rows, runs, all_cells, cells, scanned, tta, lad, points, floor, floors,
                    comparisons, rho, profile, marginal_costs(runs))


#: the verdict words that clear the noise floor (the rest are no difference or inconclusive)
DECIDED = ("confirmed", "reversed")


def verdict_word(verdict: str) -> str:
    """The words of a verdict without its reason: confirmed, reversed, no difference or
    inconclusive."""
    return verdict.split(" (")[0] if isinstance(verdict, str) else "—"


def seed_subset(rows: pd.DataFrame, seeds) -> pd.DataFrame:
    """The rows of the runs with those seeds."""
    return rows[rows["seed"].isin(list(seeds))]

