"""The sweep and tune files' schemas and planning, with nothing but the standard library and
the configuration: ``[sweep]``, ``[base]``, ``[grid]``, ``[[regime]]``, ``[[extra]]``,
``[report]`` and ``[tune]`` read and validated, the knobs' values, the tuned-file reader and
writer, and the order the runs go in. ``mt2st.sweep`` executes a spec, ``mt2st.tune`` plans
and scores its tuning; both import this module, and neither imports the other's caller."""

from __future__ import annotations

import itertools
import json
import math
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from mt2st.config import PER_STRATEGY_OPTIONS, SEED_LIMIT, TrainConfig, read_toml
from mt2st.errors import ConfigError, check_keys

TUNE_KEYS = ("seeds", "trials", "space", "regimes", "transfer", "scan", "target", "draw_seed",
             "extend", "at")
#: the most times one knob's range may be extended past a chosen edge value (``extend``)
MAX_EXTEND = 5
#: knobs given relative to a run's epoch budget: name -> (config key, value from knob and epochs)
RELATIVE_KNOBS = {
    "t_switch_fraction": ("t_switch", lambda v, epochs: v * epochs),  # switch at this share
    "eta_decay": ("eta", lambda v, epochs: v / epochs),  # Diminish's weight is e^-v at the end
}


def config_key(knob: str) -> str:
    """The TrainConfig key a knob of the search space sets."""
    return RELATIVE_KNOBS[knob][0] if knob in RELATIVE_KNOBS else knob


def knob_values(knobs: dict, epochs: int) -> dict:
    """Search-space knobs as TrainConfig keys and values for a run of ``epochs`` epochs."""
    out = {}
    for knob, value in knobs.items():
        if knob in RELATIVE_KNOBS:
            key, convert = RELATIVE_KNOBS[knob]
            out[key] = float(convert(value, epochs))
        else:
            out[knob] = value
    return out


@dataclass
class TuneSpec:
    """The ``[tune]`` table of a sweep TOML: the seeds the tuning runs on (never reported),
    the trial budget per strategy, the search space (knob -> values; a knob counts for a
    strategy when it is part of that strategy's run identity), the regimes tuned (by label),
    regimes that take another regime's choice (``transfer``), the knobs scanned one at a time
    around the choice for the sensitivity figure (``scan``), and the target as a fraction of
    the best tuned STL trial's median best validation accuracy."""

    seeds: list[int]
    trials: int
    space: dict[str, list]
    regimes: list[str]
    transfer: dict[str, str] = field(default_factory=dict)
    scan: dict[str, list] = field(default_factory=dict)
    target: float = 0.99
    draw_seed: int = 0
    #: how many times a knob whose chosen value is an edge of its searched range is extended
    #: one step beyond it (the step the two outermost values make), then chosen again
    extend: int = 0
    #: the value the trials take of each [grid] key other than strategy (``at = { setting =
    #: "S3" }``); the knobs chosen there apply to every cell of the strategy, whatever its
    #: value of that key: the same tuned knobs for every candidate of a comparison
    at: dict = field(default_factory=dict)

    @classmethod
    def from_table(cls, table: dict, path: str | Path, labels: list[str],
                   reported_seeds: list[int]) -> TuneSpec:
        where = f"{path}: [tune]"
        check_keys(table, TUNE_KEYS, f"{where} key")
        seeds = table.get("seeds", [])
        if not isinstance(seeds, list) or not seeds or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
            raise ConfigError(f"{where} seeds must be a non-empty list of whole numbers >= 0")
        if set(seeds) & set(reported_seeds):
            raise ConfigError(f"{where} seeds {sorted(set(seeds) & set(reported_seeds))} are also "
                              f"reported seeds; tune on seeds the sweep does not report")
        trials = table.get("trials")
        if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
            raise ConfigError(f"{where} trials must be an integer >= 1 (trials per strategy)")
        space, scan = table.get("space", {}), table.get("scan", {})
        regimes, transfer = table.get("regimes", []), table.get("transfer", {})
        for name, value, kind in (("space", space, dict), ("scan", scan, dict),
                                  ("regimes", regimes, list), ("transfer", transfer, dict)):
            if not isinstance(value, kind):
                raise ConfigError(f"{where} {name} must be a {'table' if kind is dict else 'list'}"
                                  f", got {value!r}")
        if not all(isinstance(r, str) for r in [*regimes, *transfer.values()]):
            raise ConfigError(f"{where} regimes and transfer name [[regime]] labels (strings)")
        target, draw_seed = table.get("target", 0.99), table.get("draw_seed", 0)
        if isinstance(target, bool) or not isinstance(target, int | float) or not 0 < target <= 1:
            raise ConfigError(f"{where} target must be a fraction of STL's best in (0, 1], "
                              f"got {target!r}")
        if isinstance(draw_seed, bool) or not isinstance(draw_seed, int) or draw_seed < 0:
            raise ConfigError(f"{where} draw_seed must be a whole number >= 0, got {draw_seed!r}")
        extend = table.get("extend", 0)
        if isinstance(extend, bool) or not isinstance(extend, int) or not 0 <= extend <= MAX_EXTEND:
            raise ConfigError(f"{where} extend must be a whole number from 0 to {MAX_EXTEND} "
                              f"(extensions of a knob whose choice is an edge), got {extend!r}")
        at = table.get("at", {})
        if not isinstance(at, dict) or not all(
                isinstance(v, str | int | float) and not isinstance(v, bool) for v in at.values()):
            raise ConfigError(f"{where} at must be a table of [grid] keys and one value each "
                              f"(at = {{ setting = \"S3\" }}), got {at!r}")
        for name, grid in (("space", space), ("scan", scan)):
            for knob, values in grid.items():
                if not isinstance(values, list) or not values:
                    raise ConfigError(f"{where}.{name} {knob} must be a non-empty list")
                if knob not in RELATIVE_KNOBS and knob not in TrainConfig.__dataclass_fields__:
                    raise ConfigError(f"{where}.{name}: unknown knob {knob!r}; a TrainConfig key "
                                      f"or one of {sorted(RELATIVE_KNOBS)}")
        if not space:
            raise ConfigError(f"{where}.space is empty: nothing to tune")
        fixed = sorted(k for k in space if config_key(k) not in PER_STRATEGY_OPTIONS)
        if fixed:
            raise ConfigError(f"{where}.space: {fixed} define the workload, so every strategy "
                              f"must share them; tune only {sorted(PER_STRATEGY_OPTIONS)}")
        for label in [*regimes, *transfer, *transfer.values()]:
            if label not in labels:
                raise ConfigError(f"{where}: no [[regime]] has label {label!r}; labels: {labels}")
        for dst, src in transfer.items():
            if src not in regimes:
                raise ConfigError(f"{where}.transfer: {dst!r} takes the choice of {src!r}, "
                                  f"which is not tuned (regimes = {regimes})")
        return cls(list(seeds), trials, space, list(regimes), dict(transfer), scan,
                   float(target), draw_seed, extend, dict(at))

    def check_grid(self, grid: dict, regimes: list[dict], path: str | Path) -> None:
        """Every [grid] key but strategy needs a value in ``at``, one the grid (or a tuned
        regime's own list for that key) holds: the trials vary the knobs, nothing else."""
        where = f"{path}: [tune] at"
        missing = sorted(set(grid) - {"strategy"} - set(self.at))
        if missing:
            raise ConfigError(f"{where}: tuning varies the knobs only; give the value of each "
                              f"[grid] key other than strategy the trials run at (missing: "
                              f"{missing}), e.g. at = {{ {missing[0]} = "
                              f"{json.dumps(grid[missing[0]][0])} }}")
        for key, value in self.at.items():
            if key == "strategy" or key not in grid:
                raise ConfigError(f"{where}: {key!r} is not a [grid] key other than strategy "
                                  f"(grid keys: {sorted(grid)})")
            for label, regime in regimes:
                if label in self.regimes and value not in regime.get(key, grid[key]):
                    raise ConfigError(f"{where}: {key} = {value!r} is not among regime "
                                      f"{label!r}'s values {regime.get(key, grid[key])}")

    def strategy_knobs(self, probe: TrainConfig) -> list[str]:
        """The knobs of the space that change runs of ``probe``'s strategy: those in its
        identity, and those whose option the identity leaves out at its default (as
        table_optimizer_state "shared") where one of the knob's values, valid for the
        strategy, changes the identity."""
        identity = probe.identity()

        def changes_runs(knob: str) -> bool:
            if config_key(knob) in identity:
                return True
            for value in self.space[knob]:
                try:
                    other = probe.replace(**knob_values({knob: value}, probe.epochs))
                except ConfigError:  # a value this strategy refuses
                    continue
                if other.identity() != identity:
                    return True
            return False

        return [k for k in self.space if changes_runs(k)]

    def trials_for(self, probe: TrainConfig) -> list[dict]:
        """The strategy's trials: its whole grid when that is within the budget, else
        ``trials`` distinct grid points from Latin hypercube draws (every knob's values are
        covered about evenly, which a small random draw does not promise), seeded by the
        strategy's name (the same trials in every regime)."""
        from scipy.stats import qmc

        knobs = self.strategy_knobs(probe)
        sizes = [len(self.space[k]) for k in knobs]
        if math.prod(sizes) <= self.trials:
            return [dict(zip(knobs, combo, strict=True))
                    for combo in itertools.product(*(self.space[k] for k in knobs))]
        import numpy as np

        rng = np.random.default_rng([self.draw_seed, zlib.crc32(probe.strategy.encode())])
        picked: dict[tuple, None] = {}
        while len(picked) < self.trials:  # a repeated grid point is drawn again
            points = qmc.LatinHypercube(d=len(knobs), seed=rng).random(self.trials)
            for point in points:
                index = tuple(min(int(u * n), n - 1) for u, n in zip(point, sizes, strict=True))
                if len(picked) < self.trials:
                    picked.setdefault(index, None)
        return [{k: self.space[k][i] for k, i in zip(knobs, index, strict=True)}
                for index in picked]


SWEEP_TABLES = ("sweep", "base", "regime", "grid", "extra", "report", "tune")
SWEEP_KEYS = ("name", "seeds", "estimate", "tuned", "replicas")
REPORT_KEYS = ("init", "setting", "target", "ladder", "overlay_authors", "seed_sets",
               "positive_dataset", "svg")


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
            spec.tune.check_grid(spec.grid, list(zip(labels, spec.regimes, strict=True)), path)
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
        # validate every cell now, not mid-sweep; a cell's validity does not depend on its seed
        # (checked above), so the first seed is enough (frontier.toml: 0.77 s → 0.08 s)
        expand_seeds(spec.base, spec.regime_cells() + [dict(e) for e in spec.extra],
                     spec.seeds[:1], str(path))
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



def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"cannot write {v!r} as a tuned value")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string: JSON's escapes are TOML's
    raise ConfigError(f"cannot write {v!r} ({type(v).__name__}) as a tuned value")


def write_chosen(scores, path: str | Path, command: str) -> Path:
    """The chosen trial of each (regime, strategy) of the tuning's ``scores`` (a table with
    regime, strategy, knobs as JSON and chosen) as ``[[tuned]]`` tables, atomically."""
    from mt2st.results import write_text_atomic

    lines = [f"# Generated by `{command}`; do not edit (run it again).",
             "# The knobs each strategy reached its target fastest with, on tuning seeds only.", ""]
    for row in scores[scores["chosen"]].sort_values(["regime", "strategy"]).itertuples():
        lines += ["[[tuned]]", f"regime = {_toml_value(row.regime)}",
                  f"strategy = {_toml_value(row.strategy)}"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in json.loads(row.knobs).items()]
        lines.append("")
    return write_text_atomic(path, "\n".join(lines))


def read_chosen(path: str | Path) -> dict[tuple[str, str], dict]:
    """(regime label, strategy) -> knobs, from a file written by :func:`write_chosen`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: the tuned values are missing; write them with "
                          f"`mt2st tune --config <the sweep toml>`")
    out = {}
    for i, entry in enumerate(read_toml(path).get("tuned", []), 1):
        if not {"regime", "strategy"} <= set(entry):
            raise ConfigError(f"{path}: [[tuned]] {i} needs regime and strategy")
        knobs = {k: v for k, v in entry.items() if k not in ("regime", "strategy")}
        out[(entry["regime"], entry["strategy"])] = knobs
    return out
