"""Skip-gram with negative sampling as one Triton kernel (CUDA; CPU only under the Triton
interpreter, ``TRITON_INTERPRET=1``, for tests).

One program walks one sentence of a step in order and updates the tables in place, exactly as
one word2vec/gensim thread does; programs run concurrently without locks (Hogwild, as
word2vec's threads and BlazingText's thread blocks do). Updates therefore stay fresh however
large the step is, unlike the snapshot mini-batches of ``torch_backend`` whose quality falls
as steps grow. Per pair (context row → centre word): the positive and ``negative`` alias-table
draws form one ``KB × dim`` block, so one pair is one gather, one reduction and one scatter.
Two draws of the same noise word in one pair write their row once (gensim writes it twice).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from mt2st.kernels.tables import MAX_EXP


@triton.jit
def _sg_sentences(tok_ptr, span_ptr, start_ptr, end_ptr, syn0_ptr, syn1_ptr, accept_ptr,
                  alias_ptr, loss_ptr, n_noise, dim, alpha, seed,
                  WINDOW: tl.constexpr, NEG: tl.constexpr, KB: tl.constexpr,
                  BLOCK_D: tl.constexpr, LIMIT: tl.constexpr):
    pid = tl.program_id(0)
    a = tl.load(start_ptr + pid)
    b = tl.load(end_ptr + pid)
    d = tl.arange(0, BLOCK_D)
    dmask = d < dim
    k = tl.arange(0, KB)
    positive = k == 0
    label = tl.where(positive, 1.0, 0.0)
    loss = tl.zeros((KB,), dtype=tl.float32)
    for i in range(a, b):
        centre = tl.load(tok_ptr + i)
        span = tl.load(span_ptr + i)
        for j in range(tl.maximum(a, i - span), tl.minimum(b, i + span + 1)):
            if j != i:
                ctx = tl.load(tok_ptr + j)
                l1 = tl.load(syn0_ptr + ctx * dim + d, mask=dmask, other=0.0)
                # alias-table draws: one uniform picks a slot, a second accepts it or its alias
                base = (i * (2 * WINDOW + 1) + (j - i + WINDOW)) * (2 * KB)
                slot = (tl.rand(seed, base + k) * n_noise).to(tl.int64)
                slot = tl.minimum(slot, n_noise - 1)
                accept = tl.load(accept_ptr + slot)
                noise = tl.where(tl.rand(seed, base + KB + k) < accept, slot,
                                 tl.load(alias_ptr + slot))
                rows = tl.where(positive, centre, noise)
                used = positive | ((k <= NEG) & (noise != centre))
                block = used[:, None] & dmask[None, :]
                ptrs = syn1_ptr + rows[:, None] * dim + d[None, :]
                out = tl.load(ptrs, mask=block, other=0.0)
                f = tl.sum(out * l1[None, :], axis=1)
                live = used & (f > -LIMIT) & (f < LIMIT)  # gensim skips saturated terms
                g = tl.where(live, (label - tl.sigmoid(f)) * alpha, 0.0)
                work = tl.sum(g[:, None] * out, axis=0)
                tl.store(ptrs, out + g[:, None] * l1[None, :], mask=live[:, None] & dmask[None, :])
                tl.store(syn0_ptr + ctx * dim + d, l1 + work, mask=dmask)
                # the next pair may read these rows through other threads of this program
                tl.debug_barrier()
                z = tl.where(positive, f, -f)
                term = tl.where(z > -30.0, tl.log(1.0 + tl.exp(-z)), -z)
                loss += tl.where(used, term, 0.0)
    tl.store(loss_ptr + pid, tl.sum(loss, axis=0))


def sg_step(syn0: torch.Tensor, syn1neg: torch.Tensor, accept: torch.Tensor, alias: torch.Tensor,
            tokens: torch.Tensor, span: torch.Tensor, sentence: torch.Tensor, alpha: float,
            seed: int, window: int, negative: int) -> torch.Tensor:
    """Train on the kept ``tokens`` of one step (``sentence`` ids ascending, ``span`` the
    reduced window of each position); returns the loss of each sentence (a device tensor)."""
    n = tokens.numel()
    cut = torch.nonzero(sentence[1:] != sentence[:-1]).squeeze(1) + 1
    edges = torch.cat([cut.new_zeros(1), cut, cut.new_full((1,), n)])
    starts, ends = edges[:-1].contiguous(), edges[1:].contiguous()
    loss = torch.zeros(starts.numel(), dtype=torch.float32, device=tokens.device)
    _sg_sentences[(starts.numel(),)](
        tokens, span, starts, ends, syn0, syn1neg, accept, alias, loss,
        accept.numel(), syn0.shape[1], alpha, seed,
        WINDOW=window, NEG=negative, KB=triton.next_power_of_2(negative + 1),
        BLOCK_D=triton.next_power_of_2(syn0.shape[1]), LIMIT=float(MAX_EXP))
    return loss
