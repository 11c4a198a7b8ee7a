"""The report: Markdown and HTML from the results store, every number traceable to run ids."""

from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from mt2st.report.aggregate import CELL, summarize_cells, summarize_runs
from mt2st.report.claims import claim_check, headline
from mt2st.report.figures import curves_by_strategy, time_to_accuracy
from mt2st.report.paper import STRATEGY_LABEL, STRATEGY_TO_PAPER, init_to_paper, paper_table2
from mt2st.results import write_parquet_atomic

STRATEGY_ORDER = ["stl", "mtl", "diminish", "diminish-authors", "switch", "adaptive-switch"]


def _fmt(x, spec: str = ".1f", scale: float = 1.0) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "–"
    if x == np.inf:
        return "∞"
    return format(x * scale, spec)


def table2(cells: pd.DataFrame, setting: str) -> pd.DataFrame:
    """Our Table 2 (per init × strategy, the given setting; STL is S0) beside the paper's."""
    paper = paper_table2().set_index(["embedding", "strategy"])
    real = cells[cells["aux_grad"] == "real"]
    rows = []
    for init in sorted(real["init"].unique()):
        for strategy in STRATEGY_ORDER:
            want = "S0" if strategy == "stl" else setting
            c = real[(real["init"] == init) & (real["strategy"] == strategy) & (real["setting"] == want)]
            if not len(c):
                continue
            c = c.iloc[0]
            key = (init_to_paper(init), STRATEGY_TO_PAPER[strategy])
            p = paper.loc[key] if key in paper.index else None

            def both(ours: str, col: str, spec: str = ".1f", p=p) -> str:
                return ours + (f" ({format(p[col], spec)})" if p is not None else "")
            rows.append({
                "init": init, "strategy": STRATEGY_LABEL.get(strategy, strategy),
                "seeds": int(c["n_seeds"]), "misses": int(c["misses"]),
                "test acc %": both(f"{_fmt(c['test_acc_mean'], '.1f', 100)} ± "
                                   f"{_fmt(c['test_acc_std'], '.1f', 100)}", "accuracy_pct"),
                "time to target s [IQR]": f"{_fmt(c['ttt_median_s'], '.1f')} "
                                          f"[{_fmt(c['ttt_q25_s'], '.1f')}–{_fmt(c['ttt_q75_s'], '.1f')}]",
                "train time s": both(_fmt(c["train_s_median"], ".1f"), "time_s"),
                "compression %": both(_fmt(c["compression"], ".1f", 100), "compression_pct"),
                "convergence epochs": both(_fmt(c["convergence_epochs"], ".0f"), "convergence_epochs", ".0f"),
                "semantic %": both(_fmt(c["analogy_sem"], ".1f", 100), "semantic_pct"),
                "syntactic %": both(_fmt(c["analogy_syn"], ".1f", 100), "syntactic_pct"),
            })
    return pd.DataFrame(rows)


def detached_table(cells: pd.DataFrame) -> pd.DataFrame:
    """The authors' formulation (aux_grad=detached) next to the same cell with real gradients."""
    det = cells[cells["aux_grad"] == "detached"]
    rows = []
    for _, d in det.iterrows():
        same = (cells[["dataset", "model", "init", "strategy", "setting"]] ==
                d[["dataset", "model", "init", "strategy", "setting"]]).all(axis=1)
        for _, c in cells[same].sort_values("aux_grad", ascending=False).iterrows():
            norms = {t: c[f"grad_norm_{t}"] for t in ("similarity", "analogy", "sgns")
                     if np.isfinite(c[f"grad_norm_{t}"])}
            rows.append({"init": c["init"], "strategy": STRATEGY_LABEL.get(c["strategy"]),
                         "setting": c["setting"], "auxiliary gradient": c["aux_grad"],
                         "aux grad norm (mean)": ", ".join(f"{t} {v:.3g}" for t, v in norms.items()),
                         "time to target s": _fmt(c["ttt_median_s"], ".1f"),
                         "misses": int(c["misses"]), "test acc %": _fmt(c["test_acc_mean"], ".1f", 100)})
        stl = cells[(cells["strategy"] == "stl") & (cells["init"] == d["init"])
                    & (cells["model"] == d["model"]) & (cells["dataset"] == d["dataset"])]
        for _, c in stl.iterrows():
            rows.append({"init": c["init"], "strategy": "STL", "setting": "S0",
                         "auxiliary gradient": "none", "aux grad norm (mean)": "",
                         "time to target s": _fmt(c["ttt_median_s"], ".1f"),
                         "misses": int(c["misses"]), "test acc %": _fmt(c["test_acc_mean"], ".1f", 100)})
    return pd.DataFrame(rows).drop_duplicates()


def _md_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "_(no rows)_"
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def _html_table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, border=0, classes="t", na_rep="–") if not df.empty else "<p>(no rows)</p>"


def build_report(results: str | Path, out: str | Path, title: str = "MT2ST reproduction",
                 init: str | None = None, setting: str = "S3", overlay_authors: bool = True,
                 extra_notes: list[str] | None = None) -> dict:
    """Aggregate the store at ``results`` and write report.md, report.html, figures and the
    aggregate tables (Parquet/CSV) to ``out``. Returns the claim checks and paths."""
    from mt2st.results import ResultsStore

    store = ResultsStore(results)
    rows = store.load()
    out = Path(out)
    figdir = out / "figures"
    runs = summarize_runs(rows)
    cells = summarize_cells(runs)
    init = init or (rows["init"].mode().iloc[0])
    write_parquet_atomic(runs, out / "runs_summary.parquet")
    write_parquet_atomic(cells, out / "cells.parquet")
    cells.to_csv(out / "cells.csv", index=False)

    figs = time_to_accuracy(rows, figdir, init=init, setting=setting)
    figs += curves_by_strategy(rows, figdir, overlay_authors=overlay_authors)
    checks = claim_check(cells, init, setting)
    t2 = table2(cells, setting)
    det = detached_table(cells)
    prov = _provenance_summary(rows)
    failures = store.failed()

    blocks: list[tuple[str, object]] = [
        ("h1", title),
        ("p", f"Generated {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC} from "
              f"{rows['run_id'].nunique()} runs ({len(rows)} epoch rows) in `{store.runs}`; "
              f"{prov}. Time to target = training seconds (evaluation excluded) until the first "
              f"epoch with validation accuracy ≥ {rows['target'].iloc[0]:.3f}; misses count as ∞; "
              f"medians over seeds."),
        ("h2", "Claim check"),
        *[("li", c["sentence"]) for c in checks],
        ("p", "Headline: " + headline(checks) if checks else "No Switch/Diminish cell to check."),
        ("h2", f"Table 2: ours (paper) · setting {setting}, STL without auxiliary tasks"),
        ("p", "Each cell: our value, the paper's published value in parentheses (Table 2 of v6; "
              "the paper trains on IMDB with a BiLSTM, so absolute values are not comparable, "
              "the orderings are). Time to target is ours only: the paper gives total times. "
              "Compression = 1 − FLOPs / FLOPs of STL over the same epoch budget."),
        ("table", t2),
        ("h2", "Time to accuracy"),
        ("img", figdir / "time_to_accuracy.png"),
        ("h2", "Loss and accuracy versus epoch (the paper's appendix figures)"),
        ("p", "Top row: our runs (line = mean, band = min–max over seeds, dotted = where the "
              "auxiliary work stops). Bottom row, where a matching log exists: the authors' logged "
              "curves (IMDB, BiLSTM, their code; training accuracy, and a total loss that includes "
              "their auxiliary terms), on their own axes."),
        *[("img", p) for p in figs if p.suffix == ".png" and p.name != "time_to_accuracy.png"],
        ("h2", "The authors' formulation (detached auxiliary losses)"),
        ("p", "In detached mode the auxiliary terms are computed from a detached copy of the "
              "embeddings, as in the authors' code: their gradient on the shared table is zero, "
              "so the run optimises the STL objective while still paying for the auxiliary work."),
        ("table", det),
        ("h2", "All cells"),
        ("table", _cells_view(cells)),
        ("h2", "Traceability"),
        ("p", "Every number above comes from the per-epoch rows in `runs/<run_id>.parquet` "
              "(read with `pandas.read_parquet`); `runs_summary.parquet` has one line per run and "
              "`cells.parquet` the per-cell statistics. Runs per cell:"),
        ("table", runs.groupby(CELL)["run_id"].apply(lambda s: " ".join(sorted(s))).reset_index()),
    ]
    if failures:
        blocks += [("h2", "Failed runs"),
                   ("table", pd.DataFrame([{"run_id": f["run_id"],
                                            "error": f["error"].strip().splitlines()[-1]}
                                           for f in failures]))]
    for note in extra_notes or []:
        blocks.append(("p", note))
    md = _render_md(blocks, out)
    (out / "report.md").write_text(md, encoding="utf-8")
    (out / "report.html").write_text(_render_html(blocks, out, title), encoding="utf-8")
    (out / "claims.json").write_text(json.dumps(checks, indent=2, default=float))
    return {"checks": checks, "headline": headline(checks), "report": out / "report.md",
            "html": out / "report.html", "figures": figs}


def _cells_view(cells: pd.DataFrame) -> pd.DataFrame:
    view = cells[CELL + ["n_seeds", "misses", "ttt_median_s", "ttt_olympic_s", "ttt_wall_median_s",
                         "test_acc_mean", "reduction_vs_stl", "reduction_vs_mtl", "compression",
                         "share_similarity", "share_analogy", "share_sgns"]].copy()
    for col in view.columns:
        if view[col].dtype.kind == "f":
            view[col] = view[col].map(lambda x: _fmt(x, ".3g"))
    return view


def _provenance_summary(rows: pd.DataFrame) -> str:
    meta = json.loads(rows["config_json"].iloc[0]) if "config_json" in rows else {}
    cpu = rows["cpu"].iloc[0] if "cpu" in rows else "unknown CPU"
    commit = rows["git_commit"].dropna().unique() if "git_commit" in rows else []
    return (f"machine: {cpu}, {meta.get('threads', '?')} thread(s) per run; "
            f"code: {', '.join(str(c)[:10] for c in commit) or 'unknown commit'}")


def _render_md(blocks, out: Path) -> str:
    parts = []
    for kind, content in blocks:
        if kind == "h1":
            parts.append(f"# {content}\n")
        elif kind == "h2":
            parts.append(f"\n## {content}\n")
        elif kind == "p":
            parts.append(f"{content}\n")
        elif kind == "li":
            parts.append(f"- {content}")
        elif kind == "table":
            parts.append(_md_table(content) + "\n")
        elif kind == "img":
            rel = Path(content).relative_to(out)
            parts.append(f"![{rel.stem}]({rel.as_posix()})\n")
    return "\n".join(parts) + "\n"


def _render_html(blocks, out: Path, title: str) -> str:
    body = []
    in_list = False
    for kind, content in blocks:
        if kind == "li" and not in_list:
            body.append("<ul>")
            in_list = True
        elif kind != "li" and in_list:
            body.append("</ul>")
            in_list = False
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{html.escape(str(content))}</{kind}>")
        elif kind in ("p", "li"):
            text = html.escape(str(content)).replace("**", "")
            body.append(f"<{kind}>{text}</{kind}>")
        elif kind == "table":
            body.append(_html_table(content))
        elif kind == "img":
            rel = Path(content).relative_to(out).as_posix()
            body.append(f'<p><img src="{rel}" alt="{html.escape(rel)}" style="max-width:100%"></p>')
    if in_list:
        body.append("</ul>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.45}"
             "table.t{border-collapse:collapse;font-size:13px}table.t td,table.t th{border:1px solid #ccc;"
             "padding:3px 6px}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")
