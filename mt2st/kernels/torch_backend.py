"""Negative-sampling kernels in torch (CPU or CUDA): the same objectives as the numba backend,
as batched tensor computation.

Each step takes a block of sentences and, on the device, subsamples tokens (gensim's keep
probabilities) and draws reduced windows. The ``batched`` kernel then builds every (input,
target) pair of the block, draws noise words from an alias table, computes all updates from the
tables as they were at the start of the step (mini-batch semantics) and applies them with
``index_add_``; its steps are small because summed updates of repeated rows go stale. The
``triton`` kernel (skip-gram on CUDA, ``triton_sg``) instead walks each sentence in order and
updates in place, Hogwild across sentences, as the numba backend does across threads. The
learning rate decays linearly per step, as in word2vec. ``apply_pair_batch`` (here and in
``numba_sgns``) applies one pre-drawn batch with identical semantics in both backends so that
they can be compared update for update.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from mt2st.errors import ConfigError
from mt2st.kernels.driver import check_finite, drive
from mt2st.kernels.problem import KERNELS as ALL_KERNELS
from mt2st.kernels.problem import SGNSConfig, SGNSTables, SGNSWeights, TrainStats
from mt2st.kernels.tables import MAX_EXP

KERNELS = ALL_KERNELS["torch"]
#: tokens per step of the batched kernel: its updates within a step are computed from the
#: tables as they were at the step's start, so quality falls as steps grow (measured on the
#: shared corpus, sg d100 5 epochs seed 1, WS-353 / SimLex: numba 0.162 / 0.113; 500 tokens
#: 0.157 / 0.110; 2,000 tokens 0.125 / 0.099; 10,000 tokens 0.051 / 0.020)
BATCHED_STEP_TOKENS = 500
#: tokens per launch of the Hogwild Triton kernel (its updates are in place, so only the
#: learning rate, constant within a launch, limits the step)
TRITON_STEP_TOKENS = 1_000_000


@dataclass
class PairBatch:
    """Pre-drawn work: pair p has input row ``inputs[p]``, positive target ``targets[p]`` and
    noise targets ``negatives[p]``. For CBOW ``inputs`` is a CSR list of context rows per
    centre (``ctx_offsets``); for fasttext the input of a pair is the mean of word ``inputs[p]``
    and its n-gram rows."""

    inputs: np.ndarray
    targets: np.ndarray
    negatives: np.ndarray
    ctx_offsets: np.ndarray | None = None


def sentence_ids(offsets: np.ndarray) -> np.ndarray:
    """The sentence index of every token of a corpus given by its sentence ``offsets``: the
    batched kernel keeps context windows inside sentences with it."""
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))


def resolve_device(device: str) -> torch.device:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but torch sees no CUDA device")
    if device != "cpu" and not device.startswith("cuda"):
        raise ConfigError(f"device must be cpu or cuda[:N], got {device!r}")
    return torch.device(device)


def triton_available(device: torch.device) -> bool:
    """Triton runs on CUDA devices, and on the CPU only under its interpreter (tests)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return device.type == "cuda" or os.environ.get("TRITON_INTERPRET") == "1"


def resolve_kernel(kernel: str, method: str, device: torch.device) -> str:
    """``batched`` (snapshot mini-batches of torch ops, every method and device) or ``triton``
    (Hogwild skip-gram kernel); ``auto`` takes triton for skip-gram where it can run."""
    if kernel not in KERNELS:
        raise ConfigError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if kernel == "auto":
        ok = method == "sg" and device.type == "cuda" and triton_available(device)
        return "triton" if ok else "batched"
    if kernel == "triton" and method != "sg":
        raise ConfigError(f"the triton kernel implements skip-gram only, not {method!r}; "
                          "use kernel='batched'")
    if kernel == "triton" and not triton_available(device):
        raise ConfigError(f"kernel 'triton' needs the triton package and a CUDA device (or "
                          f"TRITON_INTERPRET=1 on the CPU); device is {device}")
    return kernel


class TorchSGNS:
    """Holds the device tensors of one training run and performs its steps."""

    def __init__(self, config: SGNSConfig, tables: SGNSTables, weights: SGNSWeights,
                 device: str = "cpu", kernel: str = "auto") -> None:
        self.c = config
        self.device = resolve_device(device)
        self.kernel = resolve_kernel(kernel, config.method, self.device)
        self.launches = 0
        dev = self.device
        self.syn0 = torch.from_numpy(weights.syn0).to(dev)
        self.syn1neg = torch.from_numpy(weights.syn1neg).to(dev)
        self.ngrams = torch.from_numpy(weights.syn0_ngrams).to(dev)
        self.keep = torch.from_numpy(
            np.minimum(tables.sample_int.astype(np.float64) / (2**32 - 1), 1.0)).to(dev)
        self.accept = torch.from_numpy(tables.accept).to(dev, torch.float32)
        self.alias = torch.from_numpy(tables.alias.astype(np.int64)).to(dev)
        self.sub_off = torch.from_numpy(tables.sub_offsets).to(dev)
        self.sub_ids = torch.from_numpy(tables.sub_ids.astype(np.int64)).to(dev)
        self.gen = torch.Generator(device=dev)
        self.gen.manual_seed(config.seed)
        w = torch.arange(1, config.window + 1, device=dev)
        self.offsets = torch.cat([-w, w])[None, :]  # relative context positions

    # -- sampling ----------------------------------------------------------------------------
    def noise(self, shape: tuple[int, ...]) -> torch.Tensor:
        """Alias-table draws from unigram^0.75 (exact probabilities, O(1) per draw)."""
        n = self.accept.shape[0]
        idx = torch.randint(0, n, shape, generator=self.gen, device=self.device)
        u = torch.rand(shape, generator=self.gen, device=self.device)
        return torch.where(u < self.accept[idx], idx, self.alias[idx])

    def subsample(self, tokens: torch.Tensor, sent: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Drop frequent tokens (gensim's keep probabilities) and draw each kept position's
        reduced window (1..window). Returns kept tokens, their sentence ids and spans."""
        c = self.c
        if c.sample > 0:
            keep = torch.rand(tokens.shape, generator=self.gen, device=self.device) < self.keep[tokens]
            tokens, sent = tokens[keep], sent[keep]
        span = c.window - torch.randint(0, c.window, tokens.shape, generator=self.gen,
                                        device=self.device)
        return tokens, sent, span

    def pairs(self, tokens: torch.Tensor, sent: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Subsample, draw reduced windows, and list (centre position, context position) pairs
        inside each sentence, sorted by centre. Returns kept tokens, centre positions, context
        positions."""
        tokens, sent, span = self.subsample(tokens, sent)
        span = span[:, None]
        n = tokens.shape[0]
        pos = torch.arange(n, device=self.device)[:, None]
        j = pos + self.offsets  # n × 2·window candidate context positions
        inside = (j >= 0) & (j < n)
        jc = j.clamp(0, n - 1)
        ok = inside & (self.offsets.abs() <= span) & (sent[jc] == sent[:, None])
        centre, slot = torch.nonzero(ok, as_tuple=True)
        return tokens, centre, jc[centre, slot]

    # -- the three objectives, one step each ----------------------------------------------------
    def _ns(self, l1: torch.Tensor, target: torch.Tensor, negatives: torch.Tensor, alpha: float
            ) -> tuple[torch.Tensor, float]:
        """Updates syn1neg; returns the input update (P × d) and the loss sum (computed only
        with ``compute_loss``: reading it back would synchronise a GPU every step)."""
        rows = torch.cat([target[:, None], negatives], dim=1)  # P × (K+1)
        out = self.syn1neg[rows]  # P × (K+1) × d
        f = torch.einsum("pd,pkd->pk", l1, out)
        label = torch.zeros_like(f)
        label[:, 0] = 1.0
        valid = (f > -MAX_EXP) & (f < MAX_EXP)
        valid[:, 1:] &= negatives != target[:, None]
        g = (label - torch.sigmoid(f)) * alpha * valid
        loss = 0.0
        if self.c.compute_loss:
            signed = torch.where(label > 0, f, -f)
            loss = float(torch.nn.functional.softplus(-signed)[:, :1].sum()
                         + (torch.nn.functional.softplus(-signed)[:, 1:]
                            * (negatives != target[:, None])).sum())
        work = torch.einsum("pk,pkd->pd", g, out)
        delta = (g[:, :, None] * l1[:, None, :]).reshape(-1, l1.shape[1])
        self.syn1neg.index_add_(0, rows.reshape(-1), delta)
        return work, loss

    def step(self, tokens: np.ndarray | torch.Tensor, sent: np.ndarray | torch.Tensor,
             alpha: float) -> tuple[int, float]:
        """One block of sentences; returns (effective words, loss sum)."""
        tokens = torch.as_tensor(tokens, device=self.device, dtype=torch.long)
        sent = torch.as_tensor(sent, device=self.device, dtype=torch.long)
        if self.kernel == "triton":
            return self._step_triton(tokens, sent, alpha)
        kept, centre, context = self.pairs(tokens, sent)
        if centre.numel() == 0:
            return int(kept.numel()), 0.0
        m = self.c.method
        if m == "sg":  # context row predicts the centre word
            negs = self.noise((centre.numel(), self.c.negative))
            loss = self._update(kept[context], kept[centre], negs, alpha)
        elif m == "cbow":  # mean of the context rows predicts the centre word
            # pairs come sorted by centre, so each centre's contexts are consecutive
            ones = torch.ones_like(centre)
            count = torch.zeros_like(kept).index_add_(0, centre, ones)
            pos = torch.nonzero(count).squeeze(1)
            negs = self.noise((pos.numel(), self.c.negative))
            loss = self._update(kept[context], kept[pos], negs, alpha, count[pos])
        else:  # fasttext: centre word's mean of word + n-gram rows predicts the context word
            negs = self.noise((centre.numel(), self.c.negative))
            loss = self._update(kept[centre], kept[context], negs, alpha)
        return int(kept.numel()), loss

    def _step_triton(self, tokens: torch.Tensor, sent: torch.Tensor, alpha: float
                     ) -> tuple[int, float]:
        """Skip-gram through the Hogwild Triton kernel (``triton_sg``): in-place updates."""
        from mt2st.kernels.triton_sg import sg_step

        kept, sent, span = self.subsample(tokens, sent)
        if kept.numel() == 0:
            return 0, 0.0
        self.launches += 1
        seed = (self.c.seed * 1_000_003 + self.launches) % 2**31
        loss = sg_step(self.syn0, self.syn1neg, self.accept, self.alias, kept, span, sent,
                       alpha, seed, self.c.window, self.c.negative)
        return int(kept.numel()), float(loss.sum()) if self.c.compute_loss else 0.0

    def _subword_input(self, words: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Mean of each word's row and its n-gram rows; also (owner pair, n-gram row) lists."""
        start, end = self.sub_off[words], self.sub_off[words + 1]
        lengths = end - start
        owner = torch.repeat_interleave(torch.arange(words.numel(), device=self.device), lengths)
        first = torch.repeat_interleave(start - torch.cumsum(lengths, 0) + lengths, lengths)
        grams = self.sub_ids[first + torch.arange(owner.numel(), device=self.device)] \
            if owner.numel() else owner
        total = self.syn0[words].clone()
        if grams.numel():
            total.index_add_(0, owner, self.ngrams[grams])
        return total / (1 + lengths)[:, None].to(total.dtype), owner, grams

    # -- pre-drawn batches (for update-for-update comparisons with numba) -----------------------
    def apply_pair_batch(self, batch: PairBatch, alpha: float) -> float:
        """Apply one pre-drawn batch with snapshot semantics and summed updates, exactly as
        ``numba_sgns.apply_pair_batch`` does (for update-for-update comparisons)."""
        dev = self.device
        lengths = None
        if self.c.method == "cbow":
            off = torch.as_tensor(batch.ctx_offsets, device=dev, dtype=torch.long)
            lengths = off[1:] - off[:-1]
        return self._update(torch.as_tensor(batch.inputs, device=dev, dtype=torch.long),
                            torch.as_tensor(batch.targets, device=dev, dtype=torch.long),
                            torch.as_tensor(batch.negatives, device=dev, dtype=torch.long),
                            alpha, lengths)

    def _update(self, inputs: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor,
                alpha: float, lengths: torch.Tensor | None = None) -> float:
        """One snapshot update of pairs p (targets[p], negatives[p]) from their input rows:
        sg ``syn0[inputs[p]]``; cbow the mean of the ``lengths[p]`` consecutive rows of
        ``inputs`` (each gets the full error); fasttext the mean of word ``inputs[p]`` and its
        n-gram rows. Returns the loss sum."""
        if self.c.method == "sg":
            work, loss = self._ns(self.syn0[inputs], targets, negatives, alpha)
            self.syn0.index_add_(0, inputs, work)
        elif self.c.method == "cbow":
            owner = torch.repeat_interleave(torch.arange(targets.numel(), device=self.device),
                                            lengths)
            neu1 = torch.zeros(targets.numel(), self.syn0.shape[1], device=self.device)
            neu1.index_add_(0, owner, self.syn0[inputs])
            work, loss = self._ns(neu1 / lengths[:, None], targets, negatives, alpha)
            self.syn0.index_add_(0, inputs, work[owner])
        else:
            l1, owner, grams = self._subword_input(inputs)
            work, loss = self._ns(l1, targets, negatives, alpha)
            self.syn0.index_add_(0, inputs, work)
            if grams.numel():
                self.ngrams.index_add_(0, grams, work[owner])
        return loss

    def copy_back(self, weights: SGNSWeights) -> None:
        weights.syn0[:] = self.syn0.cpu().numpy()
        weights.syn1neg[:] = self.syn1neg.cpu().numpy()
        weights.syn0_ngrams[:] = self.ngrams.cpu().numpy()


def train_torch(tokens: np.ndarray, offsets: np.ndarray, config: SGNSConfig, tables: SGNSTables,
                weights: SGNSWeights, device: str = "cpu", progress: bool | None = None,
                step_tokens: int | None = None, kernel: str = "auto") -> TrainStats:
    """``config.epochs`` epochs over the encoded corpus on ``device``; updates ``weights``.
    Each chunk is one step at the learning rate of its middle word."""
    runner = TorchSGNS(config, tables, weights, device, kernel)
    dev = runner.device
    default = TRITON_STEP_TOKENS if runner.kernel == "triton" else BATCHED_STEP_TOKENS
    sent_of_token = torch.from_numpy(sentence_ids(offsets)).to(dev)
    tok = torch.from_numpy(tokens.astype(np.int64)).to(dev)

    def step(lo: int, hi: int, a0: float, a1: float) -> tuple[int, float]:
        a, b = offsets[lo], offsets[hi]
        return runner.step(tok[a:b], sent_of_token[a:b], (a0 + a1) / 2)

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    stats = drive(step, offsets, config, step_tokens or default,
                  f"{config.method} torch:{dev.type}", progress, sync)
    runner.copy_back(weights)
    check_finite(weights)
    return stats
