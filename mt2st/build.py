"""Everything one training run needs, built from its config: the data splits and vocabulary,
the lexical sets, the initial shared table, the classifier and its optimisers, the auxiliary
tasks and the weighting, and two independent random streams. The trainer only steps it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mt2st.config import CORPUS_OPTIONS, TrainConfig, file_digest
from mt2st.data import (
    DATASETS,
    AnalogySet,
    SimilaritySet,
    Vocabulary,
    encode_corpus,
    load_dataset,
    load_google_analogy,
    load_similarity_sets,
    locate,
    make_synthetic,
    split_analogy,
    split_similarity,
    tokenize,
)
from mt2st.data.corpora import corpus_tokens
from mt2st.data.resample import RESAMPLE_OPTIONS
from mt2st.data.text import PAD, UNK
from mt2st.errors import ConfigError
from mt2st.init import initial_table
from mt2st.kernels import sparse_add
from mt2st.kernels.lazy_adam import LazyAdam
from mt2st.kernels.optim import SGD, Adam, Optimizer
from mt2st.schedules import Schedule, make_schedule
from mt2st.tasks import AUX_TASKS, ClassificationData, TaskContext, make_classifier, task_class
from mt2st.tasks.base import AuxTask


@dataclass
class Lexicon:
    """Auxiliary-training and held-out parts of the word-similarity and analogy sets."""

    sim_train: list[SimilaritySet]
    sim_heldout: dict[str, SimilaritySet]
    analogy_train: AnalogySet
    analogy_heldout: AnalogySet


def load_lexicon(config: TrainConfig, data_dir=None) -> Lexicon:
    """The lexical sets of the run's dataset, split into training and held-out parts."""
    if config.dataset == "synthetic":
        generator = {k: v for k, v in config.dataset_options.items() if k not in RESAMPLE_OPTIONS}
        syn = make_synthetic(seed=config.data_seed, **generator)
        sims = {"synthetic": syn.similarity}
        analogy = syn.analogy
    else:
        sims = load_similarity_sets(data_dir)
        analogy = load_google_analogy(data_dir)
    sim_train, sim_held = [], {}
    for name, s in sims.items():
        tr, ho = split_similarity(s, config.lexicon_heldout, config.lexicon_seed)
        sim_train.append(tr)
        sim_held[name] = ho
    a_tr, a_ho = split_analogy(analogy, config.lexicon_heldout, config.lexicon_seed)
    return Lexicon(sim_train, sim_held, a_tr, a_ho)


def input_digests(config: TrainConfig, data_dir=None) -> dict[str, str]:
    """sha256 of every input the run reads (the user's files, the dataset's folder, the
    lexical sets), for its provenance: a record says exactly which bytes it came from."""
    out = {f: file_digest(f) for f in config.input_files()}
    if config.dataset != "synthetic":
        names = ["wordsim", "analogy"] + ([config.dataset] if config.dataset in DATASETS else [])
        for name in names:
            folder = locate(name, data_dir, download=False, accept=lambda f: f.is_dir())
            out[f"{name}:{folder}"] = file_digest(folder)
    return out


def check_trainable(dataset, name: str) -> None:
    """Refuse data on which a run's numbers would mean nothing: a split without examples (its
    accuracy NaN) or a training split of one class (accuracy 1.0 by construction)."""
    for split, data in dataset.splits.items():
        if len(data) == 0:
            raise ConfigError(f"dataset {name!r}: the {split} split is empty (train "
                              f"{len(dataset.train)}, validation {len(dataset.validation)}, test "
                              f"{len(dataset.test)} examples): give more data or other fractions")
    classes = sorted({dataset.label_names[i] for i in set(dataset.train.labels.tolist())})
    if len(classes) < 2:
        raise ConfigError(f"dataset {name!r}: the training split has one class ({classes[0]!r}): "
                          f"a classifier would score 1.0 by construction")


@dataclass(frozen=True)
class PreparedData:
    """A run's data as the trainer consumes it: tokenised splits, the vocabulary, the encoded
    splits (arrays read-only: runs that share them cannot change them) and the lexical sets."""

    tokens: dict[str, tuple[tuple[str, ...], ...]]
    vocab: Vocabulary
    splits: dict[str, ClassificationData]
    n_classes: int
    lexicon: Lexicon
    full_train: tuple[tuple[str, ...], ...] = ()  # the corpus part train-full, when one is named


#: prepared data kept per process (a sweep worker builds many runs on the same data), newest
#: last; keyed by everything that determines it, the digests of the files read included
_PREPARED: dict[str, PreparedData] = {}
PREPARED_KEEP = 4


def _prepared_key(config: TrainConfig, data_dir, digests: dict[str, str]) -> str:
    fields = {"dataset": config.dataset, "data_seed": config.data_seed,
              "dataset_options": config.dataset_options, "min_count": config.min_count,
              "lexicon_heldout": config.lexicon_heldout, "lexicon_seed": config.lexicon_seed,
              **({"vocab_extra": list(config.vocab_extra)} if config.vocab_extra else {}),
              **({"full_train": True} if _names_full_train(config) else {}),
              "data_dir": None if data_dir is None else str(Path(data_dir).resolve()),
              "digests": digests}
    return json.dumps(fields, sort_keys=True, default=str)


def _names_full_train(config: TrainConfig) -> bool:
    return any("train-full" in getattr(config, name) for name in CORPUS_OPTIONS)


def _full_train_tokens(config: TrainConfig, dataset, data_dir) -> tuple:
    """The tokens of the primary dataset's whole training split (``train-full``): the loaded
    one unless ``train_size`` drew from it, else the same dataset loaded without the draw."""
    options = dict(config.dataset_options)
    if options.pop("train_size", None) is not None:
        dataset = load_dataset(config.dataset, data_dir=data_dir, seed=config.data_seed, **options)
    return tuple(tuple(tokenize(t)) for t in dataset.train.texts)


def prepared_data(config: TrainConfig, data_dir=None, digests: dict[str, str] | None = None
                  ) -> PreparedData:
    """Load, tokenise and encode the run's dataset and split its lexical sets, or return what
    this process prepared before for the same inputs (same dataset, options, seeds, vocabulary
    cut and file digests): loading SST-2 costs about 2 s per run, its training a few."""
    digests = input_digests(config, data_dir) if digests is None else digests
    key = _prepared_key(config, data_dir, digests)
    if key in _PREPARED:
        _PREPARED[key] = _PREPARED.pop(key)  # most recently used last
        return _PREPARED[key]
    dataset = load_dataset(config.dataset, data_dir=data_dir, seed=config.data_seed,
                           **dict(config.dataset_options))
    check_trainable(dataset, config.dataset)
    tokens = {k: tuple(tuple(tokenize(t)) for t in s.texts) for k, s in dataset.splits.items()}
    if not any(tokens["train"]):
        raise ConfigError(f"dataset {config.dataset!r}: its training texts hold no word")
    full_train = _full_train_tokens(config, dataset, data_dir) if _names_full_train(config) else ()
    vocab = Vocabulary.build([*tokens["train"], *corpus_tokens(config.vocab_extra, (), data_dir,
                                                               full_train)],
                             min_count=config.min_count, specials=(PAD, UNK))
    if len(vocab) <= 2:
        raise ConfigError(f"dataset {config.dataset!r}: min_count {config.min_count} leaves no word "
                          f"in the vocabulary (every token would be <unk>)")
    splits = {k: ClassificationData(encode_corpus(tokens[k], vocab, unknown="unk"),
                                    dataset.splits[k].labels)
              for k in tokens}
    if dataset.validation is dataset.test:  # the authors' protocol: one split, evaluated once
        splits["validation"] = splits["test"]
    for split in splits.values():
        for array in (split.corpus.tokens, split.corpus.offsets, split.labels, vocab.counts):
            array.setflags(write=False)
    data = PreparedData(tokens, vocab, splits, len(dataset.label_names),
                        load_lexicon(config, data_dir), full_train)
    _PREPARED[key] = data
    while len(_PREPARED) > PREPARED_KEEP:
        _PREPARED.pop(next(iter(_PREPARED)))
    return data


@dataclass
class RunParts:
    """The built run: what it trains, on what, with what."""

    config: TrainConfig
    device: torch.device
    vocab: Vocabulary
    splits: dict[str, ClassificationData]
    n_classes: int
    lexicon: Lexicon
    input_digests: dict[str, str]
    init_info: dict
    table: torch.nn.Parameter
    model: torch.nn.Module
    optimizers: list[Optimizer]
    tasks: dict[str, AuxTask]
    schedule: Schedule
    shuffle_rng: np.random.Generator  # the primary task's batch order
    rng: np.random.Generator  # the auxiliary tasks' draws

    @property
    def loss_tasks(self) -> dict[str, AuxTask]:
        """Tasks trained through autograd (their losses meet the weighting)."""
        return {n: t for n, t in self.tasks.items() if not AUX_TASKS[n].in_place}

    @property
    def in_place_tasks(self) -> dict[str, AuxTask]:
        """Tasks that update the table in place through the kernels."""
        return {n: t for n, t in self.tasks.items() if AUX_TASKS[n].in_place}


def build_run(config: TrainConfig, data_dir=None) -> RunParts:
    """Build one run from its config (seeds torch, sets its threads)."""
    if config.device != "cpu" and not torch.cuda.is_available():
        raise ConfigError(f"device {config.device!r} requested but no CUDA device is available")
    if config.backend not in ("numba", "torch"):
        raise ConfigError(f"backend must be numba or torch, got {config.backend!r}")
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    # independent streams: the primary task's shuffling must not depend on how many random
    # numbers the auxiliary tasks drew (detached MTL then trains exactly like STL)
    shuffle_seq, aux_seq = np.random.SeedSequence(config.seed).spawn(2)
    device = torch.device(config.device)

    digests = input_digests(config, data_dir)
    data = prepared_data(config, data_dir, digests)
    vocab, splits, n_classes, lexicon, tokens = (data.vocab, data.splits, data.n_classes,
                                                 data.lexicon, data.tokens)

    try:
        initial, init_info = initial_table(config, vocab, tokens["train"], data_dir,
                                           data.full_train)
    except MemoryError:
        gib = len(vocab) * config.dim * 4 / 2**30
        raise ConfigError(f"the shared table ({len(vocab):,} words × dim {config.dim}, float32) "
                          f"needs {gib:,.1f} GiB, more memory than is free here") from None
    table = torch.nn.Parameter(torch.from_numpy(initial).to(device))
    model = make_classifier(config.model, config.dim, n_classes).to(device)
    # the table gets sparse gradients (rows of the batch only): lazy Adam (SparseAdam's rule,
    # fused) or SGD for it, Adam or SGD for the dense model parameters
    if config.optimizer == "adam":
        optimizers = [LazyAdam([table], lr=config.lr), Adam(model.parameters(), lr=config.lr)]
    else:
        optimizers = [SGD([table, *model.parameters()], lr=config.lr)]

    unlabelled = (corpus_tokens(config.aux_corpus, tokens["train"], data_dir, data.full_train)
                  if any(AUX_TASKS[t].in_place for t in config.aux_tasks) else None)
    context = TaskContext(config, vocab, lexicon, tokens["train"], device, unlabelled)
    tasks = {}
    for name in config.aux_tasks:
        task = task_class(name).build(context)
        if len(task) == 0:
            raise ConfigError(f"auxiliary task {name!r} has no training items inside the "
                              f"vocabulary of {config.dataset!r}")
        tasks[name] = task
    schedule = make_schedule(config.strategy, config.gamma_by_task(), **config.schedule_params())
    if any(not AUX_TASKS[n].in_place for n in tasks):
        sparse_add.compile_kernel()  # here, not in the first (timed) step
    if schedule.parameters():  # a weighting that learns (uncertainty weighting)
        optimizers.append(Adam(schedule.parameters(), lr=config.lr))
    return RunParts(config, device, vocab, splits, n_classes, lexicon, digests, init_info, table,
                    model, optimizers, tasks, schedule, np.random.default_rng(shuffle_seq),
                    np.random.default_rng(aux_seq))
