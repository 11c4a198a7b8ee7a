"""Reading text files line by line with errors that name the file and the line; file modes;
a lock that processes sharing a cache take turns on."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from mt2st.errors import DataFormatError, DataNotFoundError


def _check_is_file(path: Path) -> None:
    """A missing path, a folder and a device (``/dev/null``) each get their own message."""
    if path.is_file():
        return
    if not path.exists():
        raise DataNotFoundError(f"{path}: no such file")
    kind = "a folder" if path.is_dir() else "not a regular file (a device or a pipe)"
    raise DataFormatError(path, None, f"is {kind}", "a data file")


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """Read a whole file, turning missing files, empty files and bad bytes into clear errors."""
    path = Path(path)
    _check_is_file(path)
    raw = path.read_bytes()
    if not raw.strip():
        raise DataFormatError(path, None, "file is empty", "at least one data line")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataFormatError(path, line, f"bytes {raw[exc.start:exc.end]!r} cannot be decoded",
                              _encoding_hint(encoding)) from None
    return text.lstrip("\ufeff")


def numbered_lines(path: str | Path, encoding: str = "utf-8",
                   comment: str | None = None) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line without its newline) for non-blank, non-comment lines,
    one line in memory at a time. Lines end at "\n" only (str.splitlines() also breaks at
    \x85, \x0c and others found in real text). A missing or empty file, or bytes that do not
    decode, are errors naming the file and the line."""
    path = Path(path)
    _check_is_file(path)
    seen = False
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                raise DataFormatError(path, number, f"bytes {raw[exc.start:exc.end]!r} cannot be decoded",
                                      _encoding_hint(encoding)) from None
            if number == 1:
                line = line.lstrip("\ufeff")
            stripped = line.strip()
            if not stripped:
                continue
            seen = True
            if comment is None or not stripped.startswith(comment):
                yield number, line.rstrip("\r\n")
    if not seen:
        raise DataFormatError(path, None, "file is empty", "at least one data line")


def _encoding_hint(encoding: str) -> str:
    return (f"{encoding} text; for a file in another encoding give it, e.g. "
            f'dataset_options = {{ encoding = "cp1252" }}')


def read_tsv(path: str | Path, encoding: str = "utf-8") -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Read a tab-separated file with a header row; every row must have the header's column count."""
    lines = numbered_lines(path, encoding)
    try:
        _, header_line = next(lines)
    except StopIteration:
        raise DataFormatError(path, None, "file has no header row", "a tab-separated header") from None
    header = [h.strip().lower() for h in header_line.split("\t")]
    rows = []
    for number, line in lines:
        cells = line.split("\t")
        if len(cells) != len(header):
            raise DataFormatError(path, number, f"{len(cells)} tab-separated columns",
                                  f"{len(header)} columns as in the header {header}")
        rows.append((number, cells))
    if not rows:
        raise DataFormatError(path, None, "file has a header but no data rows", "at least one row")
    return header, rows


def umask_mode(path: str | Path) -> None:
    """Give a file made by ``tempfile.mkstemp`` (mode 0600) the mode a plain ``open`` would:
    0666 less the process's umask."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


@contextlib.contextmanager
def exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``lock`` (made if missing, its folder too) for the
    block: processes on one machine that share a cache take turns. Where ``fcntl`` is missing
    (Windows) or the lock cannot be made (a read-only folder), no lock: two processes may
    then compute the same thing, which costs time, never correctness."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock, "a")  # noqa: SIM115 (closed below, after the block)
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
