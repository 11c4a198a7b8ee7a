"""The measurements a lent GPU is for, in one process that always runs to its end: device
facts, the HBM copy bandwidth, each torch kernel's skip-gram throughput on the shared corpus
against the bound that bandwidth sets, and quality parity with numba. One JSON.

    PYTHONPATH=. MT2ST_DATA_DIR=DATA python bench/gpu_check.py --out OUT/gpu_check.json

Run by bench/gpu_check.sh (which runs the CUDA tests first). Each section records ``ok``,
``skipped`` with the reason (no CUDA GPU, no triton, no data) or ``failed`` with the error, so
one broken part never costs the rest of a 15-minute lease. Exit status 1 when a section
failed or parity missed its tolerance, else 0 (skipped sections included: a CPU machine
checks the script itself, with ``--device cpu --profile smoke``).

The bound: skip-gram with negative sampling reads and writes, per (context, centre) pair,
the context's input row and 1 + negative output rows of ``dim`` float32 values; a word has
on average ``window + 1`` pairs (reduced windows drawn from 1..window, both sides). At the
measured copy bandwidth (bytes read + written per second) that is

    bound words/s = bandwidth / ((window + 1) * 2 * 4 * dim * (2 + negative)).

It ignores sentence edges and L2 hits (frequent words' rows stay in a 60 MB L2), so a kernel
can beat it; it says how far a kernel is from moving every byte it must once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

import numpy as np

#: what each profile runs: ``full`` on the lent machine (about 3-5 minutes there), ``smoke``
#: to check the script end to end on a CPU in seconds
PROFILES = {
    "full": {"min_tokens": 20_000_000, "warm_tokens": 2_000_000, "parity_seeds": (1, 2, 3),
             "parity_epochs": 5, "max_sentences": None, "copy_bytes": 1 << 30},
    "smoke": {"min_tokens": 200_000, "warm_tokens": 20_000, "parity_seeds": (1,),
              "parity_epochs": 1, "max_sentences": 2_000, "copy_bytes": 1 << 24},
}
#: the parity tolerance of tests/test_kernels_torch.py: |mean Spearman - numba's| per set
PARITY_TOLERANCE = 0.03
SIM_SETS = ("WS-353-ALL", "SIMLEX-999")
DIM, WINDOW, NEGATIVE = 100, 5, 5


class Skip(Exception):
    """A section that cannot run here, with the reason (no GPU, no triton, no data) and
    whatever it found out before it stopped."""

    def __init__(self, reason: str, found: dict | None = None):
        super().__init__(reason)
        self.found = found or {}


def section(results: dict, name: str, fn, *args, summary=None) -> object:
    """Run one section, recording ok / skipped / failed; never raises. What is recorded of its
    value: ``summary(value)``, or the value itself where it is a dict."""
    start = time.perf_counter()
    try:
        value = fn(*args)
        recorded = summary(value) if summary else value if isinstance(value, dict) else {}
        results[name] = {"status": "ok", **recorded}
    except Skip as why:
        value = None
        results[name] = {"status": "skipped", "reason": str(why), **why.found}
    except Exception as exc:  # noqa: BLE001 (recorded; the remaining sections still run)
        value = None
        results[name] = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                         "traceback": traceback.format_exc(limit=8)}
    results[name]["seconds"] = round(time.perf_counter() - start, 2)
    status = results[name]["status"]
    detail = results[name].get("reason") or results[name].get("error") or ""
    print(f"[gpu_check] {name}: {status} ({results[name]['seconds']} s){' — ' + detail if detail else ''}",
          flush=True)
    return value


def device_facts(device: str) -> dict:
    import numba
    import torch

    facts = {"python": platform.python_version(), "torch": torch.__version__,
             "numba": numba.__version__, "numpy": np.__version__,
             "cuda_available": torch.cuda.is_available(), "device": device,
             "cpu_count": os.cpu_count()}
    try:
        import triton

        facts["triton"] = triton.__version__
    except ImportError:
        facts["triton"] = None
    for name in ("pooch", "gensim", "dask"):  # absent on the lent machine: must not be needed
        try:
            __import__(name)
            facts[f"has_{name}"] = True
        except ImportError:
            facts[f"has_{name}"] = False
    if device == "cuda":
        if not torch.cuda.is_available():
            raise Skip("no CUDA GPU: torch.cuda.is_available() is False", facts)
        props = torch.cuda.get_device_properties(0)
        facts.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                     multiprocessors=props.multi_processor_count, cuda=torch.version.cuda)
    return facts


def copy_bandwidth(device: str, nbytes: int) -> dict:
    """Device-to-device copy, bytes read plus written per second, median of 10 copies."""
    import torch

    if device != "cuda" or not torch.cuda.is_available():
        raise Skip("no CUDA GPU: HBM bandwidth not measured")
    src = torch.empty(nbytes // 4, dtype=torch.float32, device="cuda").fill_(1.0)
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    times = []
    for _ in range(10):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        dst.copy_(src)
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
    seconds = float(np.median(times))
    return {"bytes": nbytes, "median_seconds": seconds, "bytes_per_s": 2 * nbytes / seconds}


def bound_words_per_s(bandwidth: float) -> float:
    bytes_per_word = (WINDOW + 1) * 2 * 4 * DIM * (2 + NEGATIVE)
    return bandwidth / bytes_per_word


def load_corpus(data_dir: str | None, max_sentences: int | None):
    from mt2st.data import embedding_corpus, tokenize
    from mt2st.embed import prepare_corpus
    from mt2st.errors import MT2STError

    try:
        texts = embedding_corpus(data_dir)
    except MT2STError as exc:
        raise Skip(f"no shared corpus ({exc}); set MT2ST_DATA_DIR to a copy of shared/data") from None
    sentences = [tokenize(t) for t in texts[:max_sentences]]
    return sentences, prepare_corpus(sentences, min_count=5)


def throughput(kernel: str, device: str, corpus, min_tokens: int, warm_tokens: int,
               bandwidth: float | None) -> dict:
    """One epoch over the corpus repeated to ``min_tokens``, after a warm-up epoch on a slice."""
    import torch

    from mt2st.kernels.problem import SGNSConfig, SGNSTables, SGNSWeights
    from mt2st.kernels.torch_backend import resolve_kernel, train_torch

    if corpus is None:
        raise Skip("no corpus")
    if device == "cuda" and not torch.cuda.is_available():
        raise Skip("no CUDA GPU")
    if kernel == "triton" and resolve_kernel("auto", "sg", torch.device(device)) != "triton":
        raise Skip(f"the Triton kernel needs CUDA and triton (device {device})")
    _, enc = corpus
    reps = max(1, -(-min_tokens // enc.n_tokens))
    lengths = np.diff(enc.offsets)
    tokens = np.tile(enc.tokens, reps)
    offsets = np.concatenate([[0], np.cumsum(np.tile(lengths, reps))]).astype(np.int64)
    config = SGNSConfig(method="sg", dim=DIM, window=WINDOW, negative=NEGATIVE, epochs=1)
    tables = SGNSTables.build(enc.vocab.words, enc.vocab.counts, config)
    warm = int(np.searchsorted(offsets, warm_tokens))
    train_torch(tokens[:offsets[warm]], offsets[:warm + 1], config, tables,
                SGNSWeights.init(len(enc.vocab), config), device, False, None, kernel)
    stats = train_torch(tokens, offsets, config, tables, SGNSWeights.init(len(enc.vocab), config),
                        device, False, None, kernel)
    out = {"kernel": kernel, "tokens": int(offsets[-1]), "seconds": stats.seconds,
           "effective_words_per_s": stats.effective_words_per_s,
           "raw_words_per_s": stats.raw_words_per_s}
    if bandwidth:
        bound = bound_words_per_s(bandwidth)
        out.update(bound_effective_words_per_s=bound,
                   share_of_bound=stats.effective_words_per_s / bound)
    return out


def parity(device: str, corpus, seeds, epochs: int, data_dir: str | None, kernels) -> dict:
    """Mean WS-353 / SimLex-999 Spearman over ``seeds`` of numba (CPU) and of each torch
    kernel on ``device``, every score kept; within PARITY_TOLERANCE or not."""
    import torch

    from mt2st.data import load_similarity_sets
    from mt2st.embed import train_embeddings
    from mt2st.metrics import similarity_spearman

    if corpus is None:
        raise Skip("no corpus")
    if device == "cuda" and not torch.cuda.is_available():
        raise Skip("no CUDA GPU")
    _, enc = corpus
    sims = load_similarity_sets(data_dir)
    threads = min(os.cpu_count() or 1, 16)
    runs = {"numba": {}} | {f"torch-{k}": {"backend": "torch", "device": device, "kernel": k}
                            for k in kernels}
    scores, speed = {name: [] for name in runs}, {name: [] for name in runs}
    for seed in seeds:
        for name, kw in runs.items():
            e = train_embeddings(enc, seed=seed, dim=DIM, window=WINDOW, negative=NEGATIVE,
                                 epochs=epochs, threads=threads if name == "numba" else 1,
                                 progress=False, **kw)
            scores[name].append([similarity_spearman(e.index, e.vectors, sims[k])[0]
                                 for k in SIM_SETS])
            speed[name].append(e.stats.effective_words_per_s)
    mean = {name: dict(zip(SIM_SETS, np.mean(s, axis=0).tolist(), strict=True))
            for name, s in scores.items()}
    gaps = {name: {k: mean[name][k] - mean["numba"][k] for k in SIM_SETS}
            for name in runs if name != "numba"}
    return {"seeds": list(seeds), "epochs": epochs, "numba_threads": threads,
            "mean_spearman": mean, "gap_to_numba": gaps, "scores": scores,
            "effective_words_per_s": {n: float(np.median(v)) for n, v in speed.items()},
            "tolerance": PARITY_TOLERANCE,
            "within_tolerance": all(abs(g) < PARITY_TOLERANCE for d in gaps.values()
                                    for g in d.values())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the JSON file to write")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="cpu: check the script itself where no GPU is (batched kernel only)")
    args = parser.parse_args(argv)
    profile = PROFILES[args.profile]
    data_dir = os.environ.get("MT2ST_DATA_DIR")
    results: dict = {"profile": args.profile, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                     "host": platform.node(), "machine": platform.processor() or platform.machine()}
    section(results, "device", device_facts, args.device)
    bw = section(results, "copy_bandwidth", copy_bandwidth, args.device, profile["copy_bytes"])
    bandwidth = bw["bytes_per_s"] if bw else None
    corpus = section(results, "corpus", load_corpus, data_dir, profile["max_sentences"],
                     summary=lambda c: {"sentences": len(c[0]), "tokens": int(c[1].n_tokens),
                                        "vocabulary": len(c[1].vocab)})
    kernels = ("triton", "batched") if args.device == "cuda" else ("batched",)
    for kernel in kernels:
        section(results, f"throughput_{kernel}", throughput, kernel, args.device, corpus,
                profile["min_tokens"], profile["warm_tokens"], bandwidth)
    usable = [k for k in kernels if results[f"throughput_{k}"]["status"] == "ok"] or list(kernels)
    section(results, "parity", parity, args.device, corpus, profile["parity_seeds"],
            profile["parity_epochs"], data_dir, usable)
    failed = [k for k, v in results.items() if isinstance(v, dict) and v.get("status") == "failed"]
    # the smoke profile's one short epoch on a slice says whether the code runs, not parity
    missed = args.profile == "full" and results["parity"].get("within_tolerance") is False
    results["failed_sections"] = failed
    results["ok"] = not failed and not missed
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(args.out).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, default=float) + "\n", encoding="utf-8")
    os.replace(tmp, args.out)
    skipped = [k for k, v in results.items() if isinstance(v, dict) and v.get("status") == "skipped"]
    print(f"[gpu_check] wrote {args.out}: ok={results['ok']}; skipped: {', '.join(skipped) or 'none'};"
          f" failed: {', '.join(failed) or 'none'}{'; parity outside tolerance' if missed else ''}",
          flush=True)
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
