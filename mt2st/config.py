"""The run configuration: every option of ``mt2st train``, validated, hashable, TOML-loadable."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from mt2st.errors import ConfigError, check_keys
from mt2st.kernels.problem import KERNELS, METHODS
from mt2st.schedules import STRATEGIES, make_schedule, strategy_parameters
from mt2st.tasks.registry import AUX_TASKS, SETTINGS

INITS = ("random", *METHODS)  # a random table, or pretrained by one embedding method
SETTING_NAMES = tuple(SETTINGS)
AUX_NAMES = tuple(AUX_TASKS)
#: the options of each auxiliary task (left out of a run's identity when the task is not run)
AUX_OPTIONS = {name: spec.options for name, spec in AUX_TASKS.items()}
#: options that only matter to runs with auxiliary tasks (left out of an STL run's identity)
MULTI_TASK_OPTIONS = ("gamma0", "epsilon", "schedule_unit", "aux_grad")
#: options that may differ between the strategies compared on one workload, because each
#: strategy is tuned on them (``mt2st tune``): the optimizer's step size, besides the strategies'
#: own parameters and the multi-task options
TUNABLE_OPTIONS = ("lr", "table_optimizer_state")
#: what becomes of the table's optimiser state when a switching strategy drops its auxiliary
#: tasks: kept (one state for the whole run) or reset (see TrainConfig.table_optimizer_state)
TABLE_OPTIMIZER_STATES = ("shared", "reset_at_switch")
#: every option that may differ between the strategies of one workload (see workload_id)
PER_STRATEGY_OPTIONS = frozenset(
    (*TUNABLE_OPTIONS, *MULTI_TASK_OPTIONS, *(p for s in STRATEGIES for p in strategy_parameters(s)),
     *(o for names in AUX_OPTIONS.values() for o in names)))
#: the largest vector size and thread count a run takes (beyond them a value is a typo:
#: 10**12 threads overflow torch, a 10**12-wide table asks for terabytes)
MAX_DIM, MAX_THREADS = 65536, 1024
#: seeds are whole numbers below this (torch's and numpy's generators take them all)
SEED_LIMIT = 2**63
#: the options that name texts by corpus part (see check_corpus_parts)
CORPUS_OPTIONS = ("pretrain_extra", "aux_corpus", "vocab_extra")
#: the unlabelled texts we have loaders for; ``train`` (the primary's own training text) is a
#: part of aux_corpus only (the init and the vocabulary include it anyway); ``train-full`` is
#: the primary dataset's whole training split before ``train_size`` draws from it, labels
#: dropped (few labels, the rest of the training text unlabelled: no validation or test text)
CORPUS_PARTS = ("train-full", "sst2", "mr", "wikitext2")


def check_corpus_parts(name: str, parts: tuple[str, ...], allow_own: bool) -> None:
    """Each part a known corpus, ``file:PATH``, or (``allow_own``) ``train``; none twice."""
    known = (("train",) if allow_own else ()) + CORPUS_PARTS
    for part in parts:
        if part not in known and not (part.startswith("file:") and len(part) > 5):
            raise ConfigError(f"{name}: unknown corpus {part!r}; known: {', '.join(known)}, "
                              f"file:PATH")
    repeated = sorted({p for p in parts if parts.count(p) > 1})
    if repeated:
        raise ConfigError(f"{name} names {', '.join(repeated)} twice")
    if allow_own and not parts:
        raise ConfigError(f"{name} is empty: name the text the task trains on (train: the "
                          f"primary's own)")


#: evaluations per epoch when neither eval_every nor eval_every_epochs is given
DEFAULT_EVAL_EVERY_EPOCHS = 0.05


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Defaults: SST-2, bag-of-embeddings, skip-gram init, Switch, S3."""

    dataset: str = "sst2"  # sst2, mr, imdb, synthetic, fasttext:PATH or tsv:PATH
    dataset_options: dict = field(default_factory=dict)  # the loader's options (train_size, ...)
    data_seed: int = 0  # splits and subsamples of the data (fixed across run seeds)
    model: str = "bow"  # bow (bag-of-embeddings) or bilstm
    init: str = "sg"  # random, sg, cbow, fasttext or vectors:PATH
    oov_init: str = "random"  # rows missing from a vectors file: random (±0.5/dim) or zeros
    pretrain_epochs: int = 5  # epochs of the init's pretraining on the dataset's text
    pretrain_extra: tuple[str, ...] = ()  # more init text: train-full, sst2, mr, wikitext2, file:PATH
    pretrain_own_text: bool = True  # pretrain the init on the primary's training text too
    aux_corpus: tuple[str, ...] = ("train",)  # sgns/cbow text: train (the primary's) or as above
    vocab_extra: tuple[str, ...] = ()  # texts whose words join the vocabulary (the same parts)
    strategy: str = "switch"  # the schedule or gradient weighting (mt2st.schedules.STRATEGIES)
    setting: str = "S3"  # S0-S3, sgns, or a comma list of similarity, analogy, sgns, cbow
    gamma0: float | dict = 1.0  # a number for every auxiliary task, or task=value,task=value
    eta: float = 0.5  # diminish: gamma0 * exp(-eta * t^nu)
    nu: float = 1.0  # diminish: the exponent of t (>= 1)
    alpha: float = 0.95  # diminish-authors: the weight is gamma0 * alpha^(2^(epoch-1))
    t_switch: float = 2.0  # switch: epochs of multi-task training before the switch
    delta: float = 0.002  # adaptive-switch: the least improvement of validation accuracy
    patience: int = 10  # adaptive-switch: evaluations without that improvement before the switch
    hydalearn_mode: str = "exact"  # HydaLearn's gains: exact (a lookahead step) or first-order
    hydalearn_step: float = 1.0  # HydaLearn: the lookahead SGD step size
    hydalearn_w_max: float = 2.0  # HydaLearn: weights clipped to [0, w_max] (times gamma0)
    olaux_every: int = 5  # OL-AUX: steps between two updates of the weights
    olaux_lr: float = 1e4  # OL-AUX: step size of the weights' gradient descent (see OLAux)
    epsilon: float = 1e-3  # an auxiliary task below this weight does no work
    schedule_unit: str = "step"  # step: t is the fractional epoch at every step; epoch: whole epochs
    eval_every: int | None = None  # evaluate every N primary training examples
    eval_every_epochs: float | None = None  # evaluate every this fraction of an epoch (default 0.05)
    lexicon_every: int = 1  # analogy and similarity scores every Nth evaluation and the last (NaN between)
    epochs: int = 5  # the training budget in epochs of the primary task
    batch_size: int = 64  # primary sentences per step; 0: full batch (one step per epoch)
    optimizer: str = "adam"  # adam or sgd
    table_optimizer_state: str = "shared"  # switches: shared or reset_at_switch (fresh Adam there)
    lr: float = 1e-3  # the optimizer's step size
    dim: int = 100  # the embedding table's vector size
    min_count: int = 1  # words seen fewer times in the training text map to <unk>
    max_len: int | None = None  # sentences cut at this many tokens (none: whole sentences)
    seed: int = 0  # the run's seed: init, batches and auxiliary draws
    aux_grad: str = "real"  # real or detached (the authors' formulation: zero auxiliary gradient)
    target: float = 0.8  # validation accuracy that counts as reached
    stop_at_target: bool = False  # stop the run at the first evaluation reaching the target
    lexicon_heldout: float = 0.5  # share of the similarity and analogy items held out for evaluation
    lexicon_seed: int = 0  # the seed of that held-out split
    similarity_batch: int = 64  # similarity: word pairs per step
    analogy_batch: int = 32  # analogy: questions per step
    sgns_sentences: int = 64  # sgns and cbow: sentences of the primary's text per step
    sgns_alpha: float = 0.025  # sgns and cbow: the kernels' learning rate (times the weight)
    threads: int = 1  # threads of the run (torch, numba and BLAS)
    device: str = "cpu"  # cpu or cuda[:N]
    backend: str = "numba"  # the in-place tasks' back end: numba or torch
    kernel: str = "auto"  # kernel of the in-place tasks: numba pairs or hogbatch, torch batched or triton
    replica: int = 0  # > 0: rerun the cell as its own replica cell (an A/A noise-floor pair)
    def __post_init__(self) -> None:
        self._normalise()
        c = self
        checks = [
            (c.model in ("bow", "bilstm"), f"model must be bow or bilstm, got {c.model!r}"),
            (c.init in INITS or c.init.startswith("vectors:"),
             f"init must be one of {INITS} or vectors:PATH, got {c.init!r}"),
            (c.oov_init in ("random", "zeros"), f"oov_init must be random or zeros, got {c.oov_init!r}"),
            (c.strategy.lower() in STRATEGIES,
             f"unknown strategy {c.strategy!r}; known: {', '.join(STRATEGIES)}"),
            (c.epochs >= 1, f"epochs must be >= 1, got {c.epochs}"),
            (c.pretrain_epochs >= 1, f"pretrain_epochs (the init's pretraining) must be >= 1, "
                                     f"got {c.pretrain_epochs}"),
            (c.batch_size >= 0, f"batch_size must be >= 0 (0 = full batch), got {c.batch_size}"),
            (c.optimizer in ("adam", "sgd"), f"optimizer must be adam or sgd, got {c.optimizer!r}"),
            (c.lr > 0 and math.isfinite(c.lr), f"lr must be > 0, got {c.lr}"),
            (c.table_optimizer_state in TABLE_OPTIMIZER_STATES,
             f"table_optimizer_state must be one of {TABLE_OPTIMIZER_STATES}, got "
             f"{c.table_optimizer_state!r}"),
            (1 <= c.dim <= MAX_DIM, f"dim must be from 1 to {MAX_DIM}, got {c.dim}"),
            (c.aux_grad in ("real", "detached"), f"aux_grad must be real or detached, got {c.aux_grad!r}"),
            (0 < c.target <= 1, f"target must be in (0, 1], got {c.target}"),
            (c.epsilon >= 0, f"epsilon must be >= 0, got {c.epsilon}"),
            (c.schedule_unit in ("epoch", "step"),
             f"schedule_unit must be epoch or step, got {c.schedule_unit!r}"),
            (c.lexicon_every >= 1, f"lexicon_every must be >= 1 evaluation, got {c.lexicon_every}"),
            (c.eval_every is None or c.eval_every >= 1,
             f"eval_every must be >= 1 training example, got {c.eval_every}"),
            (c.eval_every_epochs is None or 0 < c.eval_every_epochs <= c.epochs,
             f"eval_every_epochs must be in (0, epochs={c.epochs}], got {c.eval_every_epochs}"),
            (c.max_len is None or c.max_len >= 1, f"max_len must be >= 1, got {c.max_len}"),
            (c.similarity_batch >= 1, f"similarity_batch must be >= 1, got {c.similarity_batch}"),
            (c.analogy_batch >= 1, f"analogy_batch must be >= 1, got {c.analogy_batch}"),
            (c.sgns_sentences >= 1, f"sgns_sentences must be >= 1, got {c.sgns_sentences}"),
            (1 <= c.threads <= MAX_THREADS, f"threads must be from 1 to {MAX_THREADS}, got {c.threads}"),
            *((0 <= getattr(c, name) < SEED_LIMIT,
               f"{name} must be a whole number from 0 to 2**63 - 1, got {getattr(c, name)}")
              for name in ("seed", "data_seed", "lexicon_seed")),
            (c.replica >= 0, f"replica must be >= 0 (0: the cell itself), got {c.replica}"),
            (c.kernel in KERNELS.get(c.backend, ("auto",)),
             f"kernel {c.kernel!r} is not one of the {c.backend} back end's "
             f"{KERNELS.get(c.backend)}"),
            (c.device == "cpu" or c.device.startswith("cuda"),
             f"device must be cpu or cuda, got {c.device!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        tasks = self.aux_tasks
        in_place = [t for t in tasks if AUX_TASKS[t].in_place]
        if in_place and not STRATEGIES[self.strategy].in_place_tasks:
            raise ConfigError(f"strategy {self.strategy!r} weighs the tasks' gradients or losses; "
                              f"{', '.join(in_place)} updates the table in place through the kernels "
                              f"and has neither: use a setting without it (S1-S3)")
        gammas = self.gamma0 if isinstance(self.gamma0, dict) else {t: self.gamma0 for t in tasks}
        # an STL run recorded as multi-task (a named S0 stays allowed: an STL record's
        # mtl_cell_id is its configuration under mtl, setting S0 included)
        if self.strategy != "stl" and not tasks and self.setting not in SETTINGS:
            raise ConfigError(f"strategy {self.strategy!r} with setting {self.setting!r} runs no "
                              f"auxiliary task (that is STL: use strategy stl, or a setting of "
                              f"{SETTING_NAMES[1:]} or a list of {AUX_NAMES})")
        for task in gammas:
            if task not in AUX_NAMES:
                raise ConfigError(f"gamma0 names unknown task {task!r}; known: {AUX_NAMES}")
            if self.strategy != "stl" and task not in tasks:  # a new cell id, the same training
                raise ConfigError(f"gamma0 names {task!r}, which setting {self.setting!r} does "
                                  f"not run ({', '.join(tasks)})")
        # the strategy's own parameters and γ0's values, checked by the schedule itself (one
        # place) when the configuration is read, not when the run is built
        make_schedule(self.strategy, gammas, **self.schedule_params()).check_budget(self.epochs)

    def _normalise(self) -> None:
        """Numbers to their field's type (``t_switch = 2`` and ``2.0`` are one run), names to
        lower case, STL to setting S0 with real gradients, one evaluation schedule."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            kind = NUMERIC_FIELDS.get(f.name)
            if kind is None or value is None:
                continue
            object.__setattr__(self, f.name, _coerce(f.name, value, kind))
        if isinstance(self.gamma0, dict):
            object.__setattr__(self, "gamma0", {str(k): _coerce(f"gamma0.{k}", v, float)
                                                for k, v in sorted(self.gamma0.items())})
        elif self.gamma0 is not None:
            object.__setattr__(self, "gamma0", _coerce("gamma0", self.gamma0, float))
        for name in CORPUS_OPTIONS:
            if isinstance(getattr(self, name), str):  # "mr" would be ("m", "r")
                raise ConfigError(f"{name} must be a list of corpora (e.g. [\"mr\"]), got "
                                  f"{getattr(self, name)!r}")
        for f in dataclasses.fields(self):  # each option of the type it is declared with
            value = getattr(self, f.name)
            if f.type == "bool" and not isinstance(value, bool):  # "no" is not False
                raise ConfigError(f"{f.name} must be true or false, got {value!r}")
            if f.type == "str" and not isinstance(value, str):
                raise ConfigError(f"{f.name} must be a string, got {value!r}")
            if f.type == "dict" and not isinstance(value, dict):
                raise ConfigError(f"{f.name} must be a table ({{ key = value }}), got {value!r}")
            if f.type == "tuple[str, ...]" and not (isinstance(value, list | tuple)
                                                    and all(isinstance(x, str) for x in value)):
                raise ConfigError(f"{f.name} must be a list of strings, got {value!r}")
        object.__setattr__(self, "strategy", str(self.strategy).lower())
        for name in CORPUS_OPTIONS:
            object.__setattr__(self, name, tuple(getattr(self, name)))
            check_corpus_parts(name, getattr(self, name), allow_own=name == "aux_corpus")
        if self.strategy == "stl":  # no auxiliary task: one STL cell whatever the setting
            object.__setattr__(self, "setting", "S0")
            object.__setattr__(self, "aux_grad", "real")
        # a strategy that never switches, or SGD (no state), trains alike either way: one cell
        if self.table_optimizer_state in TABLE_OPTIMIZER_STATES and (
                self.optimizer == "sgd" or not getattr(STRATEGIES.get(self.strategy), "switches", True)):
            object.__setattr__(self, "table_optimizer_state", "shared")
        if self.backend == "numba" and self.kernel == "pairs":  # numba's auto is the pair rule
            object.__setattr__(self, "kernel", "auto")
        if self.eval_every is not None and self.eval_every_epochs is not None:
            raise ConfigError(f"give eval_every ({self.eval_every} examples) or eval_every_epochs "
                              f"({self.eval_every_epochs}), not both")
        if self.eval_every is None and self.eval_every_epochs is None:
            object.__setattr__(self, "eval_every_epochs", DEFAULT_EVAL_EVERY_EPOCHS)

    def __hash__(self) -> int:
        """A hash that agrees with ``==`` (field by field): the dataclass one would hash the
        dict fields (dataset_options, a gamma0 table) and raise."""
        return hash(json.dumps(self.to_dict(), sort_keys=True, default=str))

    def eval_interval(self, n_train: int) -> int:
        """Primary training examples between two evaluations, for a training split of n_train."""
        if self.eval_every is not None:
            return self.eval_every
        return max(1, round(self.eval_every_epochs * n_train))

    def identity(self, with_seed: bool = True) -> dict:
        """The options that determine the run's numbers: options that do not apply (another
        strategy's parameters, the auxiliary options of STL or of tasks not run, the target
        when training does not stop at it, pretraining options of a random init) are left
        out, so that configurations that train identically have one identity."""
        d = self.to_dict()
        for strategy in STRATEGIES:
            if strategy != self.strategy:
                for name in strategy_parameters(strategy):
                    d.pop(name, None)
        tasks = () if self.strategy == "stl" else self.aux_tasks
        if self.strategy == "stl":
            for name in MULTI_TASK_OPTIONS:
                d.pop(name, None)
        used = {name for task in tasks for name in AUX_OPTIONS[task]}  # tasks may share options
        for names in AUX_OPTIONS.values():
            for name in names:
                if name not in used:
                    d.pop(name, None)
        if not self.stop_at_target:
            d.pop("target", None)
        if self.kernel == "auto":  # records written before the kernel option stay one cell
            d.pop("kernel", None)
        if not self.replica:  # the cell itself; records from before replicas keep their ids
            d.pop("replica", None)
        if self.table_optimizer_state == "shared":  # records from before the option keep theirs
            d.pop("table_optimizer_state", None)
        if self.init == "random" or self.init.startswith("vectors:"):
            d.pop("pretrain_epochs", None)
            d.pop("pretrain_extra", None)
            d.pop("pretrain_own_text", None)
        # the options added after records were written leave the identity at their defaults
        for name, default in (("pretrain_own_text", True), ("aux_corpus", ["train"]),
                              ("vocab_extra", []), ("lexicon_every", 1)):
            if d.get(name, default) == default:
                d.pop(name, None)
        if not self.init.startswith("vectors:"):
            d.pop("oov_init", None)
        if not with_seed:
            d.pop("seed", None)
        files = self.input_files()
        if files:  # a user's file is identified by its content, not its path alone
            d["input_sha256"] = {f: file_digest(f) for f in files}
        return d

    def input_files(self) -> list[str]:
        """The user's own input files this run reads (tsv:/fasttext: datasets, vectors:,
        file: pretraining text), as given."""
        out = []
        kind, _, path = self.dataset.partition(":")
        if kind in ("tsv", "fasttext") and path:
            out.append(path)
        if self.init.startswith("vectors:") and len(self.init) > 8:
            out.append(self.init[8:])
        if self.init not in ("random",) and not self.init.startswith("vectors:"):
            out += [e[5:] for e in self.pretrain_extra if e.startswith("file:")]
        if self.strategy != "stl" and "aux_corpus" in {o for t in self.aux_tasks
                                                       for o in AUX_OPTIONS[t]}:
            out += [e[5:] for e in self.aux_corpus if e.startswith("file:")]
        out += [e[5:] for e in self.vocab_extra if e.startswith("file:")]
        return list(dict.fromkeys(out))

    @property
    def run_id(self) -> str:
        """16-hex id of the run (identity with the seed)."""
        return _hash(self.identity())

    @property
    def cell_id(self) -> str:
        """16-hex id of the cell: the run's identity minus the seed."""
        return _hash(self.identity(with_seed=False))

    @property
    def workload_id(self) -> str:
        """16-hex id of the primary problem the run solves: its cell without the strategy, the
        auxiliary setting and the options each strategy is tuned on (lr, schedule parameters,
        multi-task and auxiliary options). Tuned strategies of one workload are compared with
        its STL cell (and, setting by setting, with its MTL cell)."""
        d = self.identity(with_seed=False)
        for name in ("strategy", "setting", "replica", *PER_STRATEGY_OPTIONS):
            d.pop(name, None)
        return _hash(d)

    def baseline_cell_id(self, strategy: str) -> str:
        """The cell this run is compared with: the same configuration under ``strategy``
        (real auxiliary gradients, not a replica; STL drops the auxiliary options altogether;
        a strategy that does not switch keeps one optimiser state)."""
        return self.replace(strategy=strategy, aux_grad="real", replica=0).cell_id

    @property
    def aux_tasks(self) -> tuple[str, ...]:
        """The auxiliary tasks of ``setting`` (S0-S3 as in the paper, sgns, or a list)."""
        if self.setting in SETTINGS:
            return SETTINGS[self.setting]
        tasks = tuple(t.strip() for t in self.setting.split(",") if t.strip())
        for t in tasks:
            if t not in AUX_NAMES:
                raise ConfigError(f"setting {self.setting!r}: unknown task {t!r}; use one of "
                                  f"{SETTING_NAMES} or a comma list of {AUX_NAMES}")
        repeated = sorted({t for t in tasks if tasks.count(t) > 1})
        if repeated:  # the same training under a second cell id
            raise ConfigError(f"setting {self.setting!r} names {', '.join(repeated)} twice")
        return tasks

    def gamma_by_task(self) -> dict[str, float]:
        if isinstance(self.gamma0, dict):
            return {t: float(self.gamma0.get(t, 1.0)) for t in self.aux_tasks}
        return {t: float(self.gamma0) for t in self.aux_tasks}

    def schedule_params(self) -> dict:
        return {name: getattr(self, name) for name in strategy_parameters(self.strategy)}

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for name in CORPUS_OPTIONS:
            d[name] = list(getattr(self, name))
        return d

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config") -> TrainConfig:
        check_keys(raw, [f.name for f in dataclasses.fields(cls)], f"{source}: key")
        raw = dict(raw)
        for name in CORPUS_OPTIONS:
            if name in raw and isinstance(raw[name], list):
                raw[name] = tuple(raw[name])
        try:
            return cls(**raw)
        except TypeError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def from_toml(cls, path: str | Path) -> TrainConfig:
        raw = read_toml(path)
        return cls.from_dict(raw.get("train", raw), source=str(path))


_DIGESTS: dict[tuple, str] = {}


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes (of every file under a folder, in name order); "missing" for
    a path that does not exist (the run then fails with its own clear message). Cached by
    path, size and modification time."""
    p = Path(path).expanduser()
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    if not p.exists():
        return "missing"
    key = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        for f in files:
            h.update(f.relative_to(p).as_posix().encode() if p.is_dir() else b"")
            with f.open("rb") as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def _coerce(name: str, value, kind: type):
    """``value`` as ``kind``: 2 → 2.0 for a float field (nan and inf refused); 2.0 → 2 for an
    int field."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if kind is int:
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            raise ConfigError(f"{name} must be a whole number, got {value!r}")
        return int(value)
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value}")
    return float(value)


def _hash(identity: dict) -> str:
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


NUMERIC_FIELDS = {f.name: type(f.default) for f in dataclasses.fields(TrainConfig)
                  if type(f.default) in (int, float) and f.name != "gamma0"}  # gamma0: number or dict
NUMERIC_FIELDS.update({"max_len": int, "eval_every": int, "eval_every_epochs": float})


def read_toml(path: str | Path) -> dict:
    """Parse a TOML file; a missing or malformed file is a ConfigError naming it."""
    path = Path(path)
    try:  # utf-8-sig: a byte-order mark (some editors write one) is not TOML's business
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, expected a TOML file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file (byte {exc.start} is not UTF-8); expected "
                          f"a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def field_help() -> dict[str, str]:
    """Each TrainConfig field's one-line documentation: the comment on its line above (one
    place, which the CLI's flag help reads)."""
    import inspect
    import io
    import tokenize

    out: dict[str, str] = {}
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    source = inspect.getsource(TrainConfig)
    line_field: dict[int, str] = {}
    for number, line in enumerate(source.splitlines(), 1):
        head = line.strip().split(":", 1)[0]
        if line.startswith("    ") and not line.startswith("     ") and head in names:
            line_field[number] = head
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT and tok.start[0] in line_field:
            out.setdefault(line_field[tok.start[0]], tok.string.lstrip("#").strip())
    return out
