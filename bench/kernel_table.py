"""README's kernel table, generated from one pytest-benchmark run of bench/test_bench_kernels.py:

    pytest bench/test_bench_kernels.py --benchmark-json=kernels.json
    python bench/kernel_table.py kernels.json [--readme README.md]

Prints the markdown table (effective words/s and ratios to gensim, same run); with ``--readme``
it replaces the table between the ``<!-- kernel-table -->`` markers instead.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

IMPLS = {"gensim": "gensim", "numba": "mt2st pairs", "numba-hogbatch": "mt2st HogBatch"}
START, END = "<!-- kernel-table -->", "<!-- /kernel-table -->"


def speeds(path: Path) -> tuple[dict, dict]:
    """{(method, dim, threads): {impl: effective words/s}} and the run's machine info."""
    run = json.loads(path.read_text())
    out: dict = {}
    for b in run["benchmarks"]:
        impl, info = b["params"]["impl"], b["extra_info"]
        key = (info["method"], info["dim"], info["threads"])
        out.setdefault(key, {})[impl] = info["effective_words_per_s"]
    return out, {"cpu": run["machine_info"].get("cpu_model"),
                 "date": run["datetime"][:10], "versions": run["machine_info"].get("versions", {})}


def table(path: Path) -> str:
    by_case, machine = speeds(path)
    lines = [f"Effective words/s, one pytest-benchmark run ({machine['date']}, {machine['cpu']}, "
             f"gensim {machine['versions'].get('gensim', '?')}; `python bench/kernel_table.py`):",
             "",
             "| method | dim | threads | " + " | ".join(IMPLS.values())
             + " | pairs / gensim | HogBatch / gensim |",
             "|---|---|---|" + "---|" * (len(IMPLS) + 2)]
    for (method, dim, threads), got in sorted(by_case.items()):
        peer = got.get("gensim")
        cells = [f"{got[i] / 1e3:.0f}k" if i in got else "–" for i in IMPLS]
        ratios = [f"**{got[i] / peer:.2f}×**" if i in got and peer else "–"
                  for i in ("numba", "numba-hogbatch")]
        lines.append(f"| {method} | {dim} | {threads} | " + " | ".join(cells + ratios) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", type=Path)
    parser.add_argument("--readme", type=Path)
    args = parser.parse_args()
    text = table(args.json)
    if args.readme is None:
        print(text)
        return
    readme = args.readme.read_text()
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(readme):
        raise SystemExit(f"{args.readme}: no {START} ... {END} markers")
    args.readme.write_text(pattern.sub(lambda _: f"{START}\n{text}\n{END}", readme))
    print(f"{args.readme}: kernel table replaced")


if __name__ == "__main__":
    main()
