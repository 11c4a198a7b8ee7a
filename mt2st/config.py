"""The run configuration: every option of ``mt2st train``, validated, hashable, TOML-loadable."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from mt2st.errors import ConfigError
from mt2st.schedules import STRATEGIES

INITS = ("random", "sg", "cbow", "fasttext")
SETTING_NAMES = ("S0", "S1", "S2", "S3", "sgns")
AUX_NAMES = ("similarity", "analogy", "sgns")


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Defaults: SST-2, bag-of-embeddings, skip-gram init, Switch, S3."""

    dataset: str = "sst2"
    dataset_options: dict = field(default_factory=dict)
    data_seed: int = 0  # splits and subsamples of the data (fixed across run seeds)
    model: str = "bow"
    init: str = "sg"  # random | sg | cbow | fasttext | vectors:PATH
    oov_init: str = "random"  # rows missing from a vectors file: random (±0.5/dim) or zeros
    pretrain_epochs: int = 5
    pretrain_extra: tuple[str, ...] = ()  # extra pretraining text: mr, wikitext2, file:PATH
    strategy: str = "switch"
    setting: str = "S3"  # S0..S3, sgns, or a comma-separated list of auxiliary tasks
    gamma0: float | dict = 1.0  # one value for every auxiliary task, or {task: value}
    eta: float = 0.5  # Diminish
    nu: float = 1.0  # Diminish
    alpha: float = 0.95  # Diminish as the authors coded it
    t_switch: float = 2.0  # Switch
    delta: float = 0.002  # adaptive Switch
    patience: int = 1  # adaptive Switch
    epsilon: float = 1e-3  # below this weight an auxiliary task does no work
    schedule_unit: str = "epoch"  # t advances per epoch, or per step (fractional epochs)
    epochs: int = 5
    batch_size: int = 64  # 0: full batch (one step per epoch)
    optimizer: str = "adam"
    lr: float = 1e-3
    dim: int = 100
    min_count: int = 1
    max_len: int | None = None
    seed: int = 0
    aux_grad: str = "real"  # real | detached (the authors' defect: zero auxiliary gradient)
    target: float = 0.8
    stop_at_target: bool = False
    lexicon_heldout: float = 0.5
    lexicon_seed: int = 0
    similarity_batch: int = 64
    analogy_batch: int = 32
    sgns_sentences: int = 64
    sgns_alpha: float = 0.025
    threads: int = 1
    device: str = "cpu"
    backend: str = "numba"

    def __post_init__(self) -> None:
        c = self
        checks = [
            (c.model in ("bow", "bilstm"), f"model must be bow or bilstm, got {c.model!r}"),
            (c.init in INITS or c.init.startswith("vectors:"),
             f"init must be one of {INITS} or vectors:PATH, got {c.init!r}"),
            (c.oov_init in ("random", "zeros"), f"oov_init must be random or zeros, got {c.oov_init!r}"),
            (c.strategy.lower() in STRATEGIES,
             f"unknown strategy {c.strategy!r}; known: {', '.join(STRATEGIES)}"),
            (c.epochs >= 1, f"epochs must be >= 1, got {c.epochs}"),
            (c.batch_size >= 0, f"batch_size must be >= 0 (0 = full batch), got {c.batch_size}"),
            (c.optimizer in ("adam", "sgd"), f"optimizer must be adam or sgd, got {c.optimizer!r}"),
            (c.lr > 0 and math.isfinite(c.lr), f"lr must be > 0, got {c.lr}"),
            (c.dim >= 1, f"dim must be >= 1, got {c.dim}"),
            (c.aux_grad in ("real", "detached"), f"aux_grad must be real or detached, got {c.aux_grad!r}"),
            (0 < c.target <= 1, f"target must be in (0, 1], got {c.target}"),
            (c.epsilon >= 0, f"epsilon must be >= 0, got {c.epsilon}"),
            (c.schedule_unit in ("epoch", "step"),
             f"schedule_unit must be epoch or step, got {c.schedule_unit!r}"),
            (c.strategy.lower() != "switch" or 0 < c.t_switch <= c.epochs,
             f"t_switch must be in (0, epochs={c.epochs}], got {c.t_switch}"),
            (c.threads >= 1, f"threads must be >= 1, got {c.threads}"),
            (c.device == "cpu" or c.device.startswith("cuda"),
             f"device must be cpu or cuda, got {c.device!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        tasks = self.aux_tasks
        gammas = self.gamma0 if isinstance(self.gamma0, dict) else {t: self.gamma0 for t in tasks}
        for task, g in gammas.items():
            if task not in AUX_NAMES:
                raise ConfigError(f"gamma0 names unknown task {task!r}; known: {AUX_NAMES}")
            if not (isinstance(g, int | float) and math.isfinite(g) and g >= 0):
                raise ConfigError(f"gamma0 for {task!r} must be a finite number >= 0, got {g!r}")

    @property
    def aux_tasks(self) -> tuple[str, ...]:
        """The auxiliary tasks of ``setting`` (S0-S3 as in the paper, sgns, or a list)."""
        from mt2st.tasks import SETTINGS

        if self.setting in SETTINGS:
            return SETTINGS[self.setting]
        tasks = tuple(t.strip() for t in self.setting.split(",") if t.strip())
        for t in tasks:
            if t not in AUX_NAMES:
                raise ConfigError(f"setting {self.setting!r}: unknown task {t!r}; use one of "
                                  f"{SETTING_NAMES} or a comma list of {AUX_NAMES}")
        return tasks

    def gamma_by_task(self) -> dict[str, float]:
        if isinstance(self.gamma0, dict):
            return {t: float(self.gamma0.get(t, 1.0)) for t in self.aux_tasks}
        return {t: float(self.gamma0) for t in self.aux_tasks}

    def schedule_params(self) -> dict:
        return {"diminish": {"eta": self.eta, "nu": self.nu},
                "diminish-authors": {"alpha": self.alpha},
                "switch": {"t_switch": self.t_switch},
                "adaptive-switch": {"delta": self.delta, "patience": self.patience}
                }.get(self.strategy.lower(), {})

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["pretrain_extra"] = list(self.pretrain_extra)
        return d

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config") -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {unknown}; known: {sorted(names)}")
        raw = dict(raw)
        if "pretrain_extra" in raw:
            raw["pretrain_extra"] = tuple(raw["pretrain_extra"])
        try:
            return cls(**raw)
        except TypeError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def from_toml(cls, path: str | Path) -> TrainConfig:
        raw = read_toml(path)
        return cls.from_dict(raw.get("train", raw), source=str(path))


def read_toml(path: str | Path) -> dict:
    """Parse a TOML file; a missing or malformed file is a ConfigError naming it."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
