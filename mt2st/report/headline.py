"""README's headline table, taken from committed reports (never typed by hand):

    python -m mt2st.report.headline docs/paper-protocol docs/regimes [--readme README.md]

One row per regime of each report's main init and setting: Switch's time to 0.99·STL-best as a
multiple of STL's on the report's verdict clock (effects.csv; a miss counted at its run's
budget), the verdict, and the fastest strategy at that level (findings.csv). With ``--readme``
the table replaces the text between the ``<!-- headline-table -->`` and
``<!-- /headline-table -->`` markers.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pandas as pd

from mt2st.report.aggregate import split_label
from mt2st.report.document import md_rows

MARKER = "headline-table"


def headline_table(folders: list[Path], level: float = 0.99) -> str:
    """The Markdown table for ``folders`` (report folders with effects.csv and findings.csv)."""
    header = ["report", "dataset", "training examples", "model", "init · setting",
              f"Switch / STL time (verdict clock) to {level:.2f}·STL-best [95 % CI]", "verdict",
              f"fastest at {level:.2f}"]
    rows = []
    for folder in folders:
        options = json.loads((folder / "options.json").read_text())
        init, setting = options["init"], options["setting"]
        effects = pd.read_csv(folder / "effects.csv", dtype={"data_options": str},
                              keep_default_na=False, na_values={"ratio": [""], "lo": [""], "hi": [""]})
        effects = effects[(effects["init"] == init) & (effects["setting"] == setting)
                          & (effects["target"] == f"{level:.2f}·STL-best")]
        found = pd.read_csv(folder / "findings.csv", dtype={"data_options": str},
                            keep_default_na=False)
        for _, e in effects.sort_values(["dataset", "model", "n_train"]).iterrows():
            here = found[(found["dataset"] == e["dataset"]) & (found["n_train"] == e["n_train"])
                         & (found["data_options"] == e["data_options"])
                         & (found["model"] == e["model"]) & (found["init"] == init)
                         & (found["setting"] == setting)]
            fastest = next((r["fastest"] for _, r in here.iterrows()
                            if r["level_lo"] - 1e-9 <= level <= r["level_hi"] + 1e-9), "—")
            missed = (f"misses: Switch {e['misses']}, STL {e['baseline_misses']} of {e['n_paired']}"
                      if e["misses"] or e["baseline_misses"] else "")
            ratio = (f"{e['ratio']:.2f}× [{e['lo']:.2f}, {e['hi']:.2f}]"
                     + (f" ({missed}, each at its budget)" if missed else "")
                     if pd.notna(e["ratio"]) else f"— ({missed})")
            dataset = split_label(e["dataset"], e["data_options"])
            rows.append([f"[{folder.name}]({folder.as_posix()}/report.md)", dataset,
                         f"{int(e['n_train']):,}", e["model"], f"{init} · {setting}", ratio,
                         e["verdict"], fastest])
    return md_rows(header, rows)


def replace_table(readme: str, table: str, source: str = "README", marker: str = MARKER) -> str:
    """``readme`` with the text between the ``<!-- marker -->`` and ``<!-- /marker -->`` lines
    replaced by ``table`` (README's generated tables: this one, bench/kernel_table.py's)."""
    start, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(readme):
        raise SystemExit(f"{source}: no {start} ... {end} markers")
    return pattern.sub(lambda _: f"{start}\n{table}\n{end}", readme)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--readme", type=Path)
    args = parser.parse_args()
    table = headline_table(args.folders)
    if args.readme is None:
        print(table)
        return
    args.readme.write_text(replace_table(args.readme.read_text(), table, str(args.readme)))
    print(f"{args.readme}: {MARKER} replaced")


if __name__ == "__main__":
    main()
