"""The project's own exception types: every user-facing failure is one of these."""

from __future__ import annotations

from pathlib import Path


class MT2STError(Exception):
    """Base class of every error mt2st raises on purpose."""


class DataNotFoundError(MT2STError, FileNotFoundError):
    """A dataset or resource could not be found locally nor downloaded."""


class DataFormatError(MT2STError, ValueError):
    """A data file does not have the expected format; names the file, the line and what was expected."""

    def __init__(self, path: str | Path | None, line: int | None, problem: str,
                 expected: str | None = None) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.problem = problem
        self.expected = expected
        where = self.path or "<input>"
        if line is not None:
            where += f", line {line}"
        msg = f"{where}: {problem}"
        if expected:
            msg += f" (expected {expected})"
        super().__init__(msg)


class ConfigError(MT2STError, ValueError):
    """An argument or configuration value is invalid."""


def check_keys(table: dict, known, what: str) -> None:
    """Refuse keys not in ``known``, naming the nearest valid one (a typo is never ignored)."""
    import difflib

    for key in table:
        if key not in known:
            near = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
            hint = (f"; did you mean {near[0]!r}?" if near else
                    f"; known: {', '.join(sorted(known))}" if known else "; it takes none")
            raise ConfigError(f"{what} {key!r} is unknown{hint}")
