"""Errors raised for bad input: every one names the file, the field and what was expected."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Bad or unreadable input, printed as ``path: field: reason``.

    Parameters
    ----------
    path
        The file (or directory) the problem was found in.
    field
        The HDU, column, header keyword or table column at fault.
    reason
        What was found and what was expected; ideally how to fix it.
    """

    def __init__(self, path: Path | str, field: str, reason: str) -> None:
        self.path = Path(path)
        self.field = field
        self.reason = reason
        super().__init__(f"{self.path}: {field}: {reason}")

    def __reduce__(self) -> tuple:
        # Keep the exception picklable across multiprocessing workers.
        return (type(self), (self.path, self.field, self.reason))
