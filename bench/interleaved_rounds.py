"""Kernel throughput in interleaved rounds: ours and gensim take turns, round after round.

pytest-benchmark times each implementation's rounds back to back, so a slow spell of this VM
(two-thread timings move by ±30 % within minutes) can land on one side of a ratio only. Here
every round runs every (implementation, method, dim, threads) case once, in the same order,
and the table gives the median over rounds and ours / gensim of the medians.

    python bench/interleaved_rounds.py --rounds 5 --readme README.md

With ``--readme`` the table replaces the one between README's ``kernel-rounds`` markers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.test_bench_kernels import _gensim, _hogbatch, _ours  # noqa: E402
from mt2st.report.document import md_rows  # noqa: E402
from mt2st.report.headline import replace_table  # noqa: E402
from mt2st.results import cpu_model  # noqa: E402

IMPLS = {"mt2st pairs": _ours, "mt2st HogBatch": _hogbatch, "gensim": _gensim}


def measure(methods: list[str], dims: list[int], threads: list[int], rounds: int) -> dict:
    """{(method, dim, threads): {impl: [effective words/s per round]}}."""
    cases = {(m, d, t): {name: make(m, d, t) for name, make in IMPLS.items()
                         if not (name == "mt2st HogBatch" and m != "sg")}
             for m in methods for d in dims for t in threads}
    out = {case: {name: [] for name in runs} for case, runs in cases.items()}
    for r in range(rounds):
        for case, runs in cases.items():
            for name, run in runs.items():
                effective, _, seconds = run()
                out[case][name].append(effective / seconds)
        print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    return out


def table(results: dict, rounds: int) -> str:
    """Markdown: medians over rounds (k words/s) and ours / gensim."""
    rows = []
    for (m, d, t), by in sorted(results.items()):
        med = {k: statistics.median(v) for k, v in by.items()}
        cells = [f"{med[n] / 1e3:.0f}k" if n in med else "–"
                 for n in ("gensim", "mt2st pairs", "mt2st HogBatch")]
        ratios = [f"**{med[n] / med['gensim']:.2f}×**" if n in med else "–"
                  for n in ("mt2st pairs", "mt2st HogBatch")]
        rows.append([m, d, t, *cells, *ratios])
    header = ["method", "dim", "threads", "gensim", "mt2st pairs", "mt2st HogBatch",
              "pairs / gensim", "HogBatch / gensim"]
    return (f"Effective words/s, median of {rounds} interleaved rounds ({date.today()}, "
            f"{cpu_model()}):\n\n" + md_rows(header, rows) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=["sg", "cbow"], choices=["sg", "cbow"])
    p.add_argument("--dims", nargs="+", type=int, default=[100, 300])
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path, help="also write the table here")
    p.add_argument("--readme", type=Path, help="replace the table between kernel-rounds markers")
    a = p.parse_args()
    text = table(measure(a.methods, a.dims, a.threads, a.rounds), a.rounds)
    print(text)
    if a.out:
        a.out.write_text(text)
    if a.readme:
        a.readme.write_text(replace_table(a.readme.read_text(), text.rstrip("\n"), str(a.readme),
                                          marker="kernel-rounds"))


if __name__ == "__main__":
    main()
