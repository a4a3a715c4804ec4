"""Reading a JSON Lines file (one JSON value a line; blank lines are skipped): the one reader of the provenance log's
entry files and the pipeline's ``reveals.jsonl``. Standard library only."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class JsonlError(ValueError):
    """``path`` cannot be read (``line`` None) or its line ``line`` (1-based) is bad; ``cause`` is why (the
    :class:`OSError` or :class:`UnicodeDecodeError`, the :class:`json.JSONDecodeError`, or what ``parse`` raised).
    ``str()``: ``PATH: PROBLEM`` or ``PATH line N: PROBLEM``."""

    def __init__(self, path: Path, line: int | None, cause: Exception) -> None:
        self.path, self.line, self.cause = path, line, cause
        super().__init__(f"{path}: {self.problem}" if line is None else f"{path} line {line}: {self.problem}")

    @property
    def problem(self) -> str:
        if self.line is None:
            return ("no such file" if isinstance(self.cause, FileNotFoundError)
                    else f"unreadable ({type(self.cause).__name__})")
        return "not valid JSON" if isinstance(self.cause, json.JSONDecodeError) else str(self.cause)


def read_jsonl(path: Path, parse: Callable[[Any], T],
               errors: tuple[type[Exception], ...] = (ValueError,)) -> list[tuple[int, T]]:
    """``(line number, parse(value))`` for every non-blank line of ``path``, in order; the first problem (the file
    unreadable, a line not JSON, ``parse`` raising one of ``errors``) is a :class:`JsonlError`."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise JsonlError(path, None, e) from None
    out: list[tuple[int, T]] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            raise JsonlError(path, n, e) from None
        try:
            out.append((n, parse(value)))
        except errors as e:
            raise JsonlError(path, n, e) from None
    return out
