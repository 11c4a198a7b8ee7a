"""A report document: a list of blocks (heading, paragraph, list item, table, image) rendered
as Markdown and HTML, and written atomically beside each other."""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from mt2st.results import write_text_atomic

#: a block: ("h1" | "h2" | "p" | "li", text), ("table", DataFrame) or ("img", path)
Block = tuple[str, object]


def md_rows(header: list, rows: list[list]) -> str:
    """A Markdown table: the one table writer of mt2st (reports, the tuning report, README's
    headline and benchmark tables)."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def md_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "_(no rows)_"
    cols = list(df.columns)
    return md_rows(cols, [[r[c] for c in cols] for _, r in df.iterrows()])


def html_table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, border=0, classes="t", na_rep="–") if not df.empty else "<p>(no rows)</p>"


def render_md(blocks, out: Path) -> str:
    """The blocks as Markdown (a list ends with a blank line, so what follows is not part of
    its last item)."""
    parts = []
    previous = None
    for kind, content in blocks:
        if previous == "li" and kind != "li":
            parts.append("")
        previous = kind
        if kind == "h1":
            parts.append(f"# {content}\n")
        elif kind == "h2":
            parts.append(f"\n## {content}\n")
        elif kind == "p":
            parts.append(f"{content}\n")
        elif kind == "li":
            parts.append(f"- {content}")
        elif kind == "table":
            parts.append(md_table(content) + "\n")
        elif kind == "img" and Path(content).is_file():
            rel = Path(content).relative_to(out)
            parts.append(f"![{rel.stem}]({rel.as_posix()})\n")
    return "\n".join(parts) + "\n"


def render_html(blocks, out: Path, title: str) -> str:
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
            body.append(html_table(content))
        elif kind == "img" and Path(content).is_file():
            rel = Path(content).relative_to(out).as_posix()
            body.append(f'<p><img src="{html.escape(quote(rel))}" alt="{html.escape(rel)}" '
                        f'style="max-width:100%"></p>')
    if in_list:
        body.append("</ul>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.45}"
             "table.t{border-collapse:collapse;font-size:13px}table.t td,table.t th{border:1px solid #ccc;"
             "padding:3px 6px}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")


def write_document(blocks: list[Block], out: Path, title: str, stem: str = "report") -> tuple[Path, Path]:
    """``blocks`` as OUT/STEM.md and OUT/STEM.html (images referenced relative to ``out``)."""
    md = write_text_atomic(out / f"{stem}.md", render_md(blocks, out))
    page = write_text_atomic(out / f"{stem}.html", render_html(blocks, out, title))
    return md, page
