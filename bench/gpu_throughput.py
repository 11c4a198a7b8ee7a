"""GPU benchmark of the torch backend (the torch-kernels issue's goal: >= 10M effective words/s
for sg, d=100, window 5, 5 negatives on one H100), with numba on the CPU as the quality peer.

    MT2ST_DATA_DIR=../shared/data python bench/gpu_throughput.py [--min-tokens 50000000]

The shared corpus (SST-2 train + MR + WikiText-2) is repeated until it holds at least
``--min-tokens`` tokens; one epoch is timed after a warm-up epoch on a slice. Prints device,
effective and raw words/s, and the WS-353 / SimLex-999 Spearman of a 5-epoch run on the plain
shared corpus next to numba's, as JSON. ``--kernel batched`` times the torch-ops path instead
of the Triton kernel.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from mt2st.data import embedding_corpus, load_similarity_sets, tokenize
from mt2st.embed import prepare_corpus, train_embeddings
from mt2st.kernels.problem import SGNSConfig, SGNSTables, SGNSWeights
from mt2st.kernels.torch_backend import resolve_kernel, train_torch
from mt2st.metrics import similarity_spearman


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--min-tokens", type=int, default=50_000_000)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--step-tokens", type=int, default=None)
    parser.add_argument("--kernel", default="auto", choices=("auto", "batched", "triton"),
                        help="auto: the Hogwild Triton kernel on CUDA when triton is installed")
    args = parser.parse_args()
    sentences = [tokenize(t) for t in embedding_corpus()]
    enc = prepare_corpus(sentences, min_count=5)
    reps = max(1, -(-args.min_tokens // enc.n_tokens))
    lengths = np.diff(enc.offsets)
    tokens = np.tile(enc.tokens, reps)
    offsets = np.concatenate([[0], np.cumsum(np.tile(lengths, reps))]).astype(np.int64)
    config = SGNSConfig(method="sg", dim=100, window=5, negative=5, epochs=1)
    tables = SGNSTables.build(enc.vocab.words, enc.vocab.counts, config)
    warm = int(np.searchsorted(offsets, 2_000_000))
    train_torch(tokens[:offsets[warm]], offsets[:warm + 1], config, tables,
                SGNSWeights.init(len(enc.vocab), config), args.device, False, args.step_tokens,
                args.kernel)
    stats = train_torch(tokens, offsets, config, tables, SGNSWeights.init(len(enc.vocab), config),
                        args.device, False, args.step_tokens, args.kernel)
    sims = load_similarity_sets()
    quality = {}
    for backend, device, kernel in (("torch", args.device, args.kernel), ("numba", "cpu", "auto")):
        e = train_embeddings(sentences, backend=backend, device=device, kernel=kernel, epochs=5,
                             progress=False)
        quality[backend] = {k: similarity_spearman(e.index, e.vectors, sims[k])[0]
                            for k in ("WS-353-ALL", "SIMLEX-999")}
    print(json.dumps({
        "device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
        "kernel": resolve_kernel(args.kernel, "sg", torch.device(args.device)),
        "tokens": int(offsets[-1]), "seconds": stats.seconds,
        "effective_words_per_s": stats.effective_words_per_s,
        "raw_words_per_s": stats.raw_words_per_s, "quality": quality}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
