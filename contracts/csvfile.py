"""Reading the contracts' CSV files: one place for encoding, header and row-shape errors."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from pathlib import Path

from contracts.errors import ContractError


def read_text(path: Path, *, missing: str) -> str:
    """The file's text (UTF-8, a BOM tolerated); ``missing`` is the problem reported when there is no file."""
    if not path.is_file():
        raise ContractError(path, missing)
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise ContractError(path, f"not UTF-8 text: {e}") from None


def iter_rows(text: str, path: str | Path, columns: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line, row)`` for every data row (line numbers 1-based, header = 1), after checking that the header has
    every required column and that each row has as many fields as the header. Extra columns stay in ``row``."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in columns if c not in header]
    if missing:
        raise ContractError(path, f"missing column(s): {', '.join(missing)} (header: {', '.join(header) or 'empty'})",
                            line=1)
    for row in reader:
        if None in row or any(v is None for v in row.values()):
            raise ContractError(path, "row has a different number of fields than the header "
                                      f"({'more' if None in row else 'fewer'})", line=reader.line_num)
        yield reader.line_num, row
