"""Property tests (hypothesis) over the data and vectors files a user hands mt2st, built from
the cases that once gave silent wrong numbers or tracebacks: one class, empty label cells,
label-only lines, repeated headers, tiny files, byte-order marks, duplicate words, nan and
inf values, wrong counts in a header. Each file either loads into something a run can
trust, or is refused with the project's own error naming the file (and the line where
there is one), never a traceback from deep inside numpy. Every file is a valid one with at
most a few defects put in, so that both outcomes occur often (a test asserts they do)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mt2st.build import prepared_data
from mt2st.config import TrainConfig
from mt2st.data.corpora import canonical_label
from mt2st.errors import DataFormatError, MT2STError
from mt2st.vectors import load_vectors


def _settings(examples: int):
    return settings(max_examples=examples, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))

_WORDS = st.sampled_from(["good", "bad", "film", "plot", "dull", "fine", "é", "日本", "a-b",
                          "x" * 40, "<script>", "1", "__label__pos"])
_TEXT = st.lists(_WORDS, min_size=1, max_size=6).map(" ".join)
#: labels a valid file may hold: the two classes mostly, spellings of one number, a third class
_LABEL = st.sampled_from(["pos"] * 6 + ["neg"] * 6 + ["1", "1.0", " 1 ", "neutral"])


def _few(defect, at_most: int = 2):
    """No defect in about half of the files, else one or two, each at a drawn position."""
    one = st.tuples(st.integers(0, 10**6), defect)
    return st.one_of(st.just([]), st.lists(one, min_size=1, max_size=at_most))


def _insert(lines: list, defects: list) -> list:
    out = list(lines)
    for position, line in defects:
        out.insert(position % (len(out) + 1), line)
    return out


def _check_prepared(config: TrainConfig, labels: list[str]) -> None:
    """What a run trusts: every split holds examples, the training split two classes or more,
    every labelled line one example (none dropped, none invented), the classes exactly the
    labels written (one spelling per class), a vocabulary beyond the special tokens."""
    data = prepared_data(config)
    assert sum(len(s.labels) for s in data.splits.values()) == len(labels)
    assert all(len(s.labels) for s in data.splits.values())
    assert len(set(data.splits["train"].labels.tolist())) >= 2
    assert data.n_classes == len({canonical_label(label) for label in labels})
    assert len(data.vocab) > 2


def _outcome(config: TrainConfig, labels: list[str], path, bad_line: int | None) -> str:
    """"loaded" (and trustworthy) or "refused" with our error naming the file, and the first
    bad line where there is one; a file with a bad line must not load."""
    try:
        _check_prepared(config, labels)
    except DataFormatError as err:
        assert str(path) in str(err)
        if bad_line is not None:
            assert f"line {bad_line}" in str(err), err
        return "refused"
    except MT2STError as err:  # degenerate data (one class, an empty split): ConfigError
        assert str(path) in str(err) and bad_line is None, err
        return "refused"
    assert bad_line is None, f"line {bad_line} is malformed but the file loaded"
    return "loaded"


def _config(path, fmt: str) -> TrainConfig:
    return TrainConfig(dataset=f"{fmt}:{path}", init="random", epochs=1, dim=8, strategy="stl")


_TSV_DEFECTS = st.sampled_from([("empty label", "good film\t"), ("empty label", "good film\t "),
                                ("label only", "\tpos"), ("blank", ""), ("blank", "\t"),
                                ("header", "text\tlabel"), ("header", " Text \t LABEL ")])


def _tsv_case(path, rows, defects, bom) -> str:
    lines = _insert([(("row", label), f"{text}\t{label}") for text, label in rows],
                    [(p, (kind, line)) for p, (kind, line) in defects])
    body = ["text\tlabel"] + [line for _, line in lines]
    path.write_text(("\ufeff" if bom else "") + "\n".join(body) + "\n", encoding="utf-8")
    labels = [kind[1] for kind, _ in lines if isinstance(kind, tuple)] + \
        ["pos" for kind, _ in lines if kind == "label only"]
    empty = [i + 2 for i, (kind, _) in enumerate(lines) if kind == "empty label"]
    return _outcome(_config(path, "tsv"), labels, path, empty[0] if empty else None)


_FASTTEXT_DEFECTS = st.sampled_from([("no name", "__label__ good film"), ("no label", "good film"),
                                     ("no name", "__label__"), ("blank", "   ")])


def _fasttext_case(path, rows, defects) -> str:
    lines = _insert([(label, f"__label__{label.strip()} {text}") for text, label in rows],
                    [(p, (kind, line)) for p, (kind, line) in defects])
    path.write_text("\n".join(line for _, line in lines) + "\n", encoding="utf-8")
    labels = [kind for kind, _ in lines if kind not in ("no name", "no label", "blank")]
    bad = [i + 1 for i, (kind, _) in enumerate(lines) if kind in ("no name", "no label")]
    return _outcome(_config(path, "fasttext"), labels, path, bad[0] if bad else None)


_FLOAT = st.floats(width=32, allow_nan=False, allow_infinity=False).map(repr)
_VECTOR_DEFECTS = ["duplicate word", "tabs", "leading space", "wrong count", "wrong dim",
                   "zero dim", "no values", "bad value"]
_BAD_VALUES = st.sampled_from(["nan", "inf", "-inf", "1e40", "x", "0x1p3", "1,5"])


def _vectors_case(path, n_words, dim, header, values, defect, bad_value, blank_lines) -> str:
    words = [f"w{i}" for i in range(n_words)] + (["w0"] if defect == "duplicate word" else [])
    sep = "\t" if defect == "tabs" else " "
    rows = [[word] + [values[(i * dim + j) % len(values)] for j in range(dim)]
            for i, word in enumerate(words)]
    if defect == "bad value":
        rows[-1][-1] = bad_value
    if defect == "no values":
        rows[-1] = rows[-1][:1]
    lines = [sep.join(row) for row in rows]
    if defect == "leading space":
        lines[0] = " " + lines[0]
    if blank_lines:
        lines = [x for line in lines for x in (line, "")]
    head = {"wrong count": f"{len(words) + 3} {dim}", "wrong dim": f"{len(words)} {dim + 1}",
            "zero dim": f"{len(words)} 0"}.get(defect, f"{len(words)} {dim}" if header else None)
    path.write_text("\n".join(([head] if head else []) + lines) + "\n", encoding="utf-8")
    with np.errstate(all="raise"):  # an overflow warning from numpy is a traceback to a user
        try:
            emb = load_vectors(path)
        except DataFormatError as err:
            assert str(path) in str(err) and defect is not None, err
            return "refused"
    assert defect is None, f"a vectors file with {defect!r} loaded"
    assert emb.words == words and emb.dim == dim
    assert np.isfinite(emb.vectors).all() and emb.vectors.dtype == np.float32
    np.testing.assert_array_equal(emb.vectors, np.array([r[1:] for r in rows], dtype=np.float32))
    return "loaded"


def _run(case, path, strategies: dict, examples: int) -> None:
    """Run ``case`` on ``examples`` files; both outcomes must occur in a sixth of them or more
    (a property that only ever sees refusals, or only loads, tests nothing)."""
    seen = {"loaded": 0, "refused": 0}

    @_settings(examples)
    @given(**strategies)
    def check(**kw):
        seen[case(path, **kw)] += 1

    check()
    assert min(seen.values()) >= examples // 6, seen


@pytest.mark.heavy  # over 6 s on 2 cores: .ci/run runs it with -m heavy
def test_any_tsv_file_loads_whole_or_is_refused_with_its_line(tmp_path):
    _run(_tsv_case, tmp_path / "d.tsv",
         {"rows": st.lists(st.tuples(_TEXT, _LABEL), min_size=20, max_size=60), "defects": _few(_TSV_DEFECTS),
          "bom": st.booleans()}, examples=60)  # 60: each file loads its lexical sets (0.2 s)


@pytest.mark.heavy  # over 6 s on 2 cores: .ci/run runs it with -m heavy
def test_any_fasttext_file_loads_whole_or_is_refused_with_its_line(tmp_path):
    _run(_fasttext_case, tmp_path / "d.txt",
         {"rows": st.lists(st.tuples(_TEXT, _LABEL), min_size=20, max_size=60),
          "defects": _few(_FASTTEXT_DEFECTS)}, examples=60)


def test_any_vectors_file_loads_a_finite_table_or_is_refused_with_its_line(tmp_path):
    _run(_vectors_case, tmp_path / "v.txt",
         {"n_words": st.integers(1, 8), "dim": st.integers(1, 4), "header": st.booleans(),
          "values": st.lists(_FLOAT, min_size=1, max_size=8),
          "defect": st.one_of(st.none(), st.sampled_from(_VECTOR_DEFECTS)),
          "bad_value": _BAD_VALUES, "blank_lines": st.booleans()}, examples=400)


@pytest.mark.parametrize("text, expected", [
    ("1 0\na\n", "header says 0 values per word"),
    (" a 1 2\n", "starts with a space"),
    ("a  1 2\n", "an empty value"),
    ("a 1e40 2\n", "beyond float32"),
    ("2 2\na 1 2\nb\t1\t2\n", "values separated by tabs"),
])
def test_vectors_lines_that_were_misread_or_misnamed(tmp_path, text, expected):
    """Found by the property above: a header of zero dimensions loaded a table of no columns,
    a leading or doubled space was called 'a value is not a number', a value beyond float32
    raised numpy's overflow warning before our message, a tab-separated line after a header
    was '0 values'."""
    path = tmp_path / "v.txt"
    path.write_text(text)
    with np.errstate(all="raise"), pytest.raises(DataFormatError, match=expected):
        load_vectors(path)


def test_a_tsv_of_header_lines_only_is_refused_with_its_file(tmp_path):
    """Found by the property above: a header and a repeated header gave numpy's 'need at least
    one array to concatenate' from the stratified split."""
    path = tmp_path / "d.tsv"
    path.write_text("text\tlabel\ntext\tlabel\n")
    with pytest.raises(DataFormatError, match="every row repeats the header"):
        prepared_data(_config(path, "tsv"))
