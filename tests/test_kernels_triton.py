"""The Hogwild Triton skip-gram kernel against a sequential numpy reference of gensim's update
rule. On the CPU the kernel runs under the Triton interpreter (in a subprocess, since
``TRITON_INTERPRET`` is read when the kernel is defined); on CUDA it runs compiled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mt2st.kernels.tables import MAX_EXP

pytest.importorskip("triton")
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
NOISE_WORD = 3  # a one-slot alias table (accept 0, alias 3) draws word 3 every time


def _problem(sentences: int, seed: int = 0):
    """Two sentences (or the same tokens as one) over 9 words, fixed reduced windows, one
    negative per pair."""
    rng = np.random.default_rng(seed)
    tokens = np.array([1, 4, 3, 7, 1, 2, 8, 5, 3, 6, 0, 2, 4], dtype=np.int64)
    sentence = np.array([0] * 7 + [sentences - 1] * 6, dtype=np.int64)
    span = rng.integers(1, 4, tokens.size)
    syn0 = rng.normal(0, 0.5, (9, 12)).astype(np.float32)
    syn1 = rng.normal(0, 0.5, (9, 12)).astype(np.float32)
    return tokens, sentence, span, syn0, syn1


def _sequential(tokens, sentence, span, syn0, syn1, alpha):
    """gensim's sg/negative-sampling order: for each centre, for each context in its reduced
    window, the context row predicts the centre (then the noise word), saturated terms skipped."""
    syn0, syn1 = syn0.copy(), syn1.copy()
    n = tokens.size
    for i in range(n):
        for j in range(max(0, i - span[i]), min(n, i + span[i] + 1)):
            if j == i or sentence[j] != sentence[i]:
                continue
            l1, work = syn0[tokens[j]], np.zeros_like(syn0[0])
            outputs = [(tokens[i], 1.0)] + ([(NOISE_WORD, 0.0)] if tokens[i] != NOISE_WORD else [])
            for row, label in outputs:
                f = float(l1 @ syn1[row])
                if -MAX_EXP < f < MAX_EXP:
                    g = (label - 1.0 / (1.0 + np.exp(-f))) * alpha
                    work += g * syn1[row]
                    syn1[row] += g * l1
            syn0[tokens[j]] += work
    return syn0, syn1


def check(device: str, sentences: int) -> dict:
    """Run the kernel once on ``device``; return the largest differences to the reference."""
    from mt2st.kernels.triton_sg import sg_step

    tokens, sentence, span, syn0, syn1 = _problem(sentences)
    want0, want1 = _sequential(tokens, sentence, span, syn0, syn1, 0.2)
    t = {k: torch.from_numpy(v.copy()).to(device) for k, v in
         dict(tokens=tokens, sentence=sentence, span=span, syn0=syn0, syn1=syn1).items()}
    accept = torch.zeros(1, dtype=torch.float32, device=device)
    alias = torch.full((1,), NOISE_WORD, dtype=torch.int64, device=device)
    loss = sg_step(t["syn0"], t["syn1"], accept, alias, t["tokens"], t["span"], t["sentence"],
                   0.2, 7, window=3, negative=1)
    return {"syn0": float(np.abs(t["syn0"].cpu().numpy() - want0).max()),
            "syn1": float(np.abs(t["syn1"].cpu().numpy() - want1).max()),
            "moved": float(np.abs(want0 - syn0).max()),
            "sentences": int(loss.numel()), "loss_finite": bool(torch.isfinite(loss).all())}


def _assert_matches(result: dict, sentences: int) -> None:
    assert result["moved"] > 1e-2  # the problem really trains
    assert result["syn0"] < 1e-5 and result["syn1"] < 1e-5, result
    assert result["sentences"] == sentences and result["loss_finite"]


def test_triton_kernel_matches_sequential_reference_under_the_interpreter():
    here = Path(__file__).resolve().parent
    code = (f"import json, sys; sys.path.insert(0, {str(here)!r}); "
            "import test_kernels_triton as t; print(json.dumps(t.check('cpu', 2)))")
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300, cwd=here.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    _assert_matches(json.loads(done.stdout.strip().splitlines()[-1]), 2)


@pytest.mark.cuda
@CUDA
def test_cuda_triton_kernel_matches_sequential_reference():
    # one sentence: one program, so no Hogwild race can make the result differ
    _assert_matches(check("cuda", 1), 1)


@pytest.mark.heavy  # about 10 s of compilation: .ci/run runs it with -m heavy
def test_triton_kernel_compiles_for_h100_without_a_gpu(monkeypatch):
    """Triton lowers the kernel to an sm_90 cubin with its bundled ptxas, no GPU needed: this
    catches what the interpreter cannot (types, loop lowering, spills to local memory)."""
    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("the interpreter replaces compilation")
    monkeypatch.setenv("TRITON_DEFAULT_FP_FUSION", "1")  # triton 3.9 warns when it is unset
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from mt2st.kernels.triton_sg import _sg_sentences

    pointers = {"tok_ptr": "*i64", "span_ptr": "*i64", "start_ptr": "*i64", "end_ptr": "*i64",
                "syn0_ptr": "*fp32", "syn1_ptr": "*fp32", "accept_ptr": "*fp32",
                "alias_ptr": "*i64", "loss_ptr": "*fp32"}
    scalars = {"n_noise": "i32", "dim": "i32", "alpha": "fp32", "seed": "i32"}
    constants = {"WINDOW": 5, "NEG": 5, "KB": 8, "BLOCK_D": 128, "LIMIT": float(MAX_EXP)}
    signature = {**pointers, **scalars, **dict.fromkeys(constants, "constexpr")}
    kernel = triton.compile(ASTSource(fn=_sg_sentences, signature=signature, constexprs=constants),
                            target=GPUTarget("cuda", 90, 32))
    assert ".local" not in kernel.asm["ptx"]  # no spills to local memory
    assert kernel.asm["cubin"]
