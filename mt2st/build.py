"""Everything one training run needs, built from its config: the data splits and vocabulary,
the lexical sets, the initial shared table, the classifier and its optimisers, the auxiliary
tasks and the weighting, and two independent random streams. The trainer only steps it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mt2st.config import TrainConfig, file_digest
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
from mt2st.data.resample import RESAMPLE_OPTIONS
from mt2st.data.text import PAD, UNK
from mt2st.errors import ConfigError
from mt2st.init import initial_table
from mt2st.kernels.lazy_adam import LazyAdam
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
    optimizers: list[torch.optim.Optimizer]
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

    dataset = load_dataset(config.dataset, data_dir=data_dir, seed=config.data_seed,
                           **dict(config.dataset_options))
    tokens = {k: [tokenize(t) for t in s.texts] for k, s in dataset.splits.items()}
    vocab = Vocabulary.build(tokens["train"], min_count=config.min_count, specials=(PAD, UNK))
    splits = {k: ClassificationData(encode_corpus(tokens[k], vocab, unknown="unk"),
                                    dataset.splits[k].labels)
              for k in tokens}
    if dataset.validation is dataset.test:  # the authors' protocol: one split, evaluated once
        splits["validation"] = splits["test"]
    n_classes = len(dataset.label_names)
    lexicon = load_lexicon(config, data_dir)
    digests = input_digests(config, data_dir)

    initial, init_info = initial_table(config, vocab, tokens["train"], data_dir)
    table = torch.nn.Parameter(torch.from_numpy(initial).to(device))
    model = make_classifier(config.model, config.dim, n_classes).to(device)
    # the table gets sparse gradients (rows of the batch only): lazy Adam (SparseAdam's rule,
    # fused) or SGD for it, Adam or SGD for the dense model parameters
    if config.optimizer == "adam":
        optimizers = [LazyAdam([table], lr=config.lr),
                      torch.optim.Adam(model.parameters(), lr=config.lr)]
    else:
        optimizers = [torch.optim.SGD([table, *model.parameters()], lr=config.lr)]

    context = TaskContext(config, vocab, lexicon, tokens["train"], device)
    tasks = {}
    for name in config.aux_tasks:
        task = task_class(name).build(context)
        if len(task) == 0:
            raise ConfigError(f"auxiliary task {name!r} has no training items inside the "
                              f"vocabulary of {config.dataset!r}")
        tasks[name] = task
    schedule = make_schedule(config.strategy, config.gamma_by_task(), **config.schedule_params())
    if schedule.parameters():  # a weighting that learns (uncertainty weighting)
        optimizers.append(torch.optim.Adam(schedule.parameters(), lr=config.lr))
    return RunParts(config, device, vocab, splits, n_classes, lexicon, digests, init_info, table,
                    model, optimizers, tasks, schedule, np.random.default_rng(shuffle_seq),
                    np.random.default_rng(aux_seq))
