"""Old against new numba kernels, interleaved: does a change to ``kernels/numba_sgns.py`` move
their speed or their tables?

Each round runs one fresh process per tree, alternating which goes first, and each process
trains one epoch of the shared corpus with every numba kernel (sg, cbow and fastText pairs;
sg HogBatch) after compiling outside the timing. A process reports effective words/s (on its CPU
clock with one thread: a shared VM's wall clock moved by ±30 % between rounds; wall clock with
more) and a hash of the tables (one thread and a fixed seed give bitwise-identical tables, so equal
hashes mean equal arithmetic). The table gives, per kernel, the median over rounds of
new / base and, as its noise floor, the range of the per-round ratios of base's own rounds
against their median (an A/A spread measured in the same run).

    git worktree add /tmp/base <commit>
    python bench/kernel_ab.py --base /tmp/base --rounds 5 [--threads 1] [--dim 100]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

from mt2st.report.document import md_rows  # noqa: E402

ONE_PROCESS = r"""
import hashlib, json, sys, time
from bench.corpus import shared_sentences
from mt2st.embed import prepare_corpus
from mt2st.kernels.numba_backend import train_numba, warm_up
from mt2st.kernels.problem import SGNSConfig, SGNSTables, SGNSWeights

threads, dim = int(sys.argv[1]), int(sys.argv[2])
encoded = prepare_corpus(shared_sentences(), min_count=5)
out = {}
for method, kernel in [("sg", "pairs"), ("cbow", "pairs"), ("fasttext", "pairs"), ("sg", "hogbatch")]:
    config = SGNSConfig(method=method, dim=dim, threads=threads, epochs=1, compute_loss=True,
                        bucket=200_000)
    warm_up(config, kernel)
    tables = SGNSTables.build(encoded.vocab.words, encoded.vocab.counts, config)
    weights = SGNSWeights.init(len(encoded.vocab), config)
    start, cpu = time.perf_counter(), time.process_time()
    stats = train_numba(encoded.tokens, encoded.offsets, config, tables, weights, False, kernel)
    seconds = time.process_time() - cpu if threads == 1 else time.perf_counter() - start
    digest = hashlib.sha256(weights.syn0.tobytes() + weights.syn1neg.tobytes()
                            + weights.syn0_ngrams.tobytes()).hexdigest()[:16]
    out[f"{method} {kernel}"] = {"words_per_s": stats.effective_words / seconds, "hash": digest}
print(json.dumps(out))
"""


def run_tree(tree: Path, threads: int, dim: int) -> dict:
    """One process of ``tree``'s code (its ``mt2st`` and ``bench`` first on the path)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", ONE_PROCESS, str(threads), str(dim)], cwd=tree,
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{tree}: the kernel process failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(base: Path, new: Path, rounds: int, threads: int, dim: int) -> dict:
    """{kernel: {"base": [words/s per round], "new": [...], "same_tables": bool}}."""
    runs: dict[str, list[dict]] = {"base": [], "new": []}
    for r in range(rounds):
        order = [("base", base), ("new", new)] if r % 2 == 0 else [("new", new), ("base", base)]
        for name, tree in order:
            runs[name].append(run_tree(tree, threads, dim))
        print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    out = {}
    for kernel in runs["base"][0]:
        hashes = {run[kernel]["hash"] for name in runs for run in runs[name]}
        out[kernel] = {name: [run[kernel]["words_per_s"] for run in runs[name]] for name in runs}
        out[kernel]["same_tables"] = len(hashes) == 1 if threads == 1 else None
    return out


def table(results: dict, rounds: int, threads: int, dim: int) -> str:
    """Markdown: per kernel, the medians, new / base and base's own spread."""
    rows = []
    for kernel, r in results.items():
        b, n = statistics.median(r["base"]), statistics.median(r["new"])
        spread = f"{min(r['base']) / b:.2f}–{max(r['base']) / b:.2f}"
        same = {True: "yes", False: "**no**", None: "– (threads > 1)"}[r["same_tables"]]
        rows.append([kernel, f"{b / 1e3:.0f}k", f"{n / 1e3:.0f}k", f"**{n / b:.3f}×**", spread,
                     same])
    header = ["kernel", "base k words/s", "new k words/s", "new / base (median)",
              "base's A/A spread", "same tables"]
    return (f"{rounds} interleaved rounds, {threads} thread(s), dim {dim}, one epoch of the "
            "shared corpus per process:\n\n" + md_rows(header, rows) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", type=Path, required=True, help="a checkout of the old code")
    ap.add_argument("--new", type=Path, default=HERE, help="the new code (this checkout)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dim", type=int, default=100)
    args = ap.parse_args(argv)
    results = compare(args.base.resolve(), args.new.resolve(), args.rounds, args.threads, args.dim)
    print(table(results, args.rounds, args.threads, args.dim))
    return 0 if all(r["same_tables"] is not False for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
