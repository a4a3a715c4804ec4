"""CSV/formula injection (OWASP): a spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return as a formula. Every participant-controlled cell of the study's exports goes through
:func:`neutralise`, which prefixes such a cell with a single quote (the OWASP rule); the analysis treats the result
as an opaque id, so it reads the neutralised export unchanged."""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """``value`` with a leading ``'`` if a spreadsheet would read it as a formula; otherwise unchanged."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value
