"""Scaling of the skip-gram kernels: effective words/s against vector size (50-300) and
threads (1, 2) for gensim, mt2st's pair kernel (gensim's rule) and HogBatch, with the
memory-bandwidth bound of each rule drawn beside them.

    python bench/scaling_figure.py --out docs/kernels    # writes scaling.json and scaling.png

The bound: STREAM-copy bandwidth of this machine (numba, 1 and 2 threads) divided by the bytes
one effective word moves if every row an update touches is read from and written back to
memory once, without cache reuse: the pair rule touches (negative + 2) rows per
(context, centre) pair, HogBatch (contexts + negative + 1) rows per centre, with
contexts = window + 1 per word on average (reduced windows, sentence edges ignored). A kernel
above its line reuses rows from cache; one below it spends its time elsewhere.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

DIMS = (50, 100, 200, 300)
THREADS = (1, 2)
WINDOW, NEGATIVE = 5, 5


def stream_copy_bandwidth(threads: int, n: int = 64 * 2**20, repeats: int = 5) -> float:
    """Bytes/s of a parallel float32 copy (read + write counted), best of ``repeats``."""
    import numba

    @numba.njit(parallel=True)
    def copy(src, dst):
        for i in numba.prange(src.shape[0]):
            dst[i] = src[i]

    numba.set_num_threads(threads)
    src, dst = np.ones(n, np.float32), np.zeros(n, np.float32)
    copy(src, dst)
    best = min(_timed(lambda: copy(src, dst)) for _ in range(repeats))
    return 2 * src.nbytes / best


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bytes_per_word(rule: str, dim: int) -> float:
    contexts = WINDOW + 1
    rows = contexts * (NEGATIVE + 2) if rule == "pairs" else contexts + NEGATIVE + 1
    return rows * dim * 4 * 2


def measure(rounds: int = 2) -> dict:
    import gensim

    from bench.corpus import shared_sentences
    from mt2st.embed import prepare_corpus
    from mt2st.kernels.numba_backend import train_numba, warm_up
    from mt2st.kernels.problem import SGNSConfig, SGNSTables, SGNSWeights

    sentences = [list(s) for s in shared_sentences()]
    encoded = prepare_corpus(shared_sentences(), min_count=5)
    rows = []
    for threads in THREADS:
        for dim in DIMS:
            for kernel in ("pairs", "hogbatch"):
                config = SGNSConfig(method="sg", dim=dim, threads=threads, epochs=1,
                                    window=WINDOW, negative=NEGATIVE)
                warm_up(config, kernel)
                tables = SGNSTables.build(encoded.vocab.words, encoded.vocab.counts, config)
                best = max(train_numba(encoded.tokens, encoded.offsets, config, tables,
                                       SGNSWeights.init(len(encoded.vocab), config), False,
                                       kernel).effective_words_per_s for _ in range(rounds))
                rows.append({"impl": kernel, "dim": dim, "threads": threads, "words_per_s": best})
            best = 0.0
            for _ in range(rounds):
                m = gensim.models.Word2Vec(vector_size=dim, window=WINDOW, negative=NEGATIVE,
                                           min_count=5, sample=1e-3, sg=1, workers=threads, seed=1)
                m.build_vocab(sentences)
                t0 = time.perf_counter()
                effective, _ = m.train(sentences, total_examples=m.corpus_count, epochs=1)
                best = max(best, effective / (time.perf_counter() - t0))
            rows.append({"impl": "gensim", "dim": dim, "threads": threads, "words_per_s": best})
            print(rows[-3:], flush=True)
    bandwidth = {str(t): stream_copy_bandwidth(t) for t in THREADS}
    return {"rows": rows, "bandwidth_bytes_per_s": bandwidth, "window": WINDOW,
            "negative": NEGATIVE, "tokens": int(encoded.n_tokens),
            "date": time.strftime("%Y-%m-%d")}


def plot(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {"gensim": ("gensim (pairs, BLAS)", "#777777"), "pairs": ("mt2st pairs", "#1f77b4"),
              "hogbatch": ("mt2st HogBatch", "#d62728")}
    fig, axes = plt.subplots(1, len(THREADS), figsize=(10, 4.2), sharey=True)
    dims = np.array(DIMS)
    for ax, threads in zip(axes, THREADS, strict=True):
        bw = data["bandwidth_bytes_per_s"][str(threads)]
        for impl, (label, colour) in styles.items():
            pts = sorted((r["dim"], r["words_per_s"]) for r in data["rows"]
                         if r["impl"] == impl and r["threads"] == threads)
            ax.plot([p[0] for p in pts], [p[1] / 1e3 for p in pts], "o-", color=colour, label=label)
            if impl != "gensim":
                bound = [bw / bytes_per_word(impl, d) / 1e3 for d in dims]
                ax.plot(dims, bound, ":", color=colour,
                        label=f"bandwidth bound, {'pair' if impl == 'pairs' else 'HogBatch'} rule")
        ax.set_title(f"{threads} thread{'s' if threads > 1 else ''} "
                     f"(copy bandwidth {bw / 1e9:.1f} GB/s)")
        ax.set_xlabel("vector size")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("effective words/s (thousands, log)")
    axes[0].legend(fontsize=8, loc="upper right")
    fig.suptitle(f"Skip-gram throughput, window {data['window']}, {data['negative']} negatives, "
                 f"{data['tokens'] / 1e6:.2f}M-token shared corpus ({data['date']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/kernels"))
    parser.add_argument("--plot-only", action="store_true", help="redraw from scaling.json")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.plot_only:
        data = json.loads((args.out / "scaling.json").read_text())
    else:
        data = measure()
        (args.out / "scaling.json").write_text(json.dumps(data, indent=1))
    plot(data, args.out / "scaling.png")
    print(f"written {args.out / 'scaling.png'}")


if __name__ == "__main__":
    main()
