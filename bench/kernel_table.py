"""README's kernel tables, generated from pytest-benchmark runs:

    pytest bench/test_bench_kernels.py --benchmark-json=kernels.json
    pytest bench/test_bench_quality.py -k hogbatch --benchmark-json=hogbatch.json
    python bench/kernel_table.py kernels.json hogbatch.json [--readme README.md]

Prints each run's markdown table (throughput: effective words/s and ratios to gensim; HogBatch:
speed and quality beside gensim's); with ``--readme`` it replaces the tables between the
``<!-- kernel-table -->`` and ``<!-- hogbatch-table -->`` markers instead.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mt2st.report.document import md_rows
from mt2st.report.headline import replace_table

IMPLS = {"gensim": "gensim", "numba": "mt2st pairs", "numba-hogbatch": "mt2st HogBatch"}


def _machine(run: dict) -> str:
    m = run["machine_info"]
    return (f"{run['datetime'][:10]}, {m.get('cpu_model')}, {m.get('cpu_count')} cores, "
            f"gensim {m.get('versions', {}).get('gensim', '?')}")


def throughput_table(run: dict) -> str:
    """Effective words/s per (method, dim, threads) and implementation, ratios to gensim."""
    by_case: dict = {}
    for b in run["benchmarks"]:
        impl, info = b["params"]["impl"], b["extra_info"]
        key = (info["method"], info["dim"], info["threads"])
        by_case.setdefault(key, {})[impl] = info["effective_words_per_s"]
    rows = []
    for (method, dim, threads), got in sorted(by_case.items()):
        peer = got.get("gensim")
        cells = [f"{got[i] / 1e3:.0f}k" if i in got else "–" for i in IMPLS]
        ratios = [f"**{got[i] / peer:.2f}×**" if i in got and peer else "–"
                  for i in ("numba", "numba-hogbatch")]
        rows.append([method, dim, threads, *cells, *ratios])
    header = ["method", "dim", "threads", *IMPLS.values(), "pairs / gensim", "HogBatch / gensim"]
    return f"Effective words/s, one run ({_machine(run)}):\n\n" + md_rows(header, rows)


def hogbatch_table(run: dict) -> str:
    """HogBatch and gensim seed by seed in one run: words/s, ratio, WS-353, SimLex, analogy."""
    header = ["dim", "threads", "words/s HogBatch / gensim", "ratio", "WS-353 HogBatch / gensim",
              "SimLex-999 HogBatch / gensim", "analogy % HogBatch / gensim"]
    lines = []
    rows = sorted((b["extra_info"] for b in run["benchmarks"] if "ratio" in b["extra_info"]),
                  key=lambda e: (e["dim"], e["threads"]))
    for e in rows:
        w, ws, sl, an = (e["effective_words_per_s"], e["WS-353-ALL"], e["SIMLEX-999"],
                         e["analogy_overall_pct"])
        lines.append([e["dim"], e["threads"],
                      f"{w['hogbatch'] / 1e3:.0f}k / {w['gensim'] / 1e3:.0f}k",
                      f"**{e['ratio']:.2f}×**", f"{ws['hogbatch']:.3f} / {ws['gensim']:.3f}",
                      f"{sl['hogbatch']:.3f} / {sl['gensim']:.3f}",
                      f"{an['hogbatch']:.2f} / {an['gensim']:.2f}"])
    return f"One run ({_machine(run)}):\n\n" + md_rows(header, lines)


def tables(paths: list[Path]) -> dict[str, str]:
    """{marker name: table} for each run given (a throughput run, a HogBatch run)."""
    out = {}
    for path in paths:
        run = json.loads(path.read_text())
        if any("impl" in (b.get("params") or {}) for b in run["benchmarks"]):
            out["kernel-table"] = throughput_table(run)
        if any("ratio" in b["extra_info"] for b in run["benchmarks"]):
            out["hogbatch-table"] = hogbatch_table(run)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", type=Path, nargs="+")
    parser.add_argument("--readme", type=Path)
    args = parser.parse_args()
    found = tables(args.json)
    if args.readme is None:
        print("\n\n".join(found.values()))
        return
    readme = args.readme.read_text()
    for name, text in found.items():
        readme = replace_table(readme, text, str(args.readme), marker=name)
        print(f"{args.readme}: {name} replaced")
    args.readme.write_text(readme)


if __name__ == "__main__":
    main()
