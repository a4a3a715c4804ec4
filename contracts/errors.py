"""The one exception type for a file that breaks its contract."""

from __future__ import annotations

from pathlib import Path


class ContractError(ValueError):
    """A contract file is missing, malformed or inconsistent.

    The message names the file, the row (1-based line number in the file, header = line 1) where there is one,
    and the problem, so a user can fix it without reading a traceback.
    """

    def __init__(self, path: str | Path, problem: str, *, line: int | None = None) -> None:
        where = f"{path}" if line is None else f"{path}, line {line}"
        super().__init__(f"{where}: {problem}")
        self.path = Path(path)
        self.line = line
        self.problem = problem
