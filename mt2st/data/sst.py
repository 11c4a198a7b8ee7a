"""SST-2 from its two public sources: GLUE's SST-2 archive (train and dev, labelled) and the
Stanford Sentiment Treebank's PTB trees, whose test trees give the labelled binary test set
(GLUE's test split has no labels).

The test set: each test tree's root label (0-4), neutral (2) dropped, 0-1 negative and 3-4
positive; the sentence is the tree's leaves joined by spaces and lowercased, as in GLUE (so
``-LRB-`` reads ``-lrb-``). That gives 1,821 sentences (912 negative, 909 positive).

The files are written in the layout ``load_sst2`` reads (label first; ``sentence`` in train,
``content`` in dev and test; LF line ends). They may differ from another copy of SST-2 in
documented ways only: line ends (a copy may use CRLF) and row order (trees and GLUE order here).
"""

from __future__ import annotations

import re
from pathlib import Path

from mt2st.errors import DataFormatError

#: member files a download leaves in the folder, read by ``rebuild``
GLUE_TRAIN, GLUE_DEV, PTB_TEST = "glue-SST-2-train.tsv", "glue-SST-2-dev.tsv", "ptb-test.txt"
_LEAF = re.compile(r"\(\d+ ([^()\s]+)\)")
_ROOT = re.compile(r"\((\d) ")


def tree_sentence(line: str, path: Path | str = "<tree>", number: int = 0) -> tuple[int, str]:
    """(root label 0-4, lowercased sentence) of one PTB tree ``(3 (2 a) (3 (3 good) (2 film)))``."""
    root, leaves = _ROOT.match(line), _LEAF.findall(line)
    if root is None or not leaves or line.count("(") != line.count(")"):
        raise DataFormatError(path, number, f"not a sentiment tree: {line[:60]!r}",
                              "a bracketed tree such as (3 (2 a) (3 good))")
    return int(root.group(1)), " ".join(leaves).lower()


def binary_test_rows(path: Path) -> list[tuple[int, str]]:
    """(label 0/1, sentence) for every non-neutral tree of the treebank's test file."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            label, sentence = tree_sentence(line.strip(), path, number)
            if label != 2:
                rows.append((int(label > 2), sentence))
    return rows


def glue_rows(path: Path) -> list[tuple[int, str]]:
    """(label, sentence) from GLUE's ``sentence<TAB>label`` file (header line first)."""
    rows = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\r\n").split("\t")
        if header != ["sentence", "label"]:
            raise DataFormatError(path, 1, f"header {header}", "sentence<TAB>label (GLUE SST-2)")
        for number, line in enumerate(f, 2):
            cells = line.rstrip("\r\n").split("\t")
            if len(cells) != 2 or cells[1] not in ("0", "1"):
                raise DataFormatError(path, number, f"{line[:60]!r}", "sentence<TAB>0 or 1")
            rows.append((int(cells[1]), cells[0].strip()))
    return rows


def write_split(path: Path, rows: list[tuple[int, str]], text_column: str) -> None:
    """``label<TAB>text`` rows under a header, LF line ends, written whole or not at all."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"label\t{text_column}\n" + "".join(f"{label}\t{text}\n" for label, text in rows),
                   encoding="utf-8")
    tmp.replace(path)


def rebuild(folder: Path) -> None:
    """train.tsv, dev.tsv and test.tsv in ``folder`` from the downloaded members."""
    write_split(folder / "train.tsv", glue_rows(folder / GLUE_TRAIN), "sentence")
    write_split(folder / "dev.tsv", glue_rows(folder / GLUE_DEV), "content")
    write_split(folder / "test.tsv", binary_test_rows(folder / PTB_TEST), "content")
