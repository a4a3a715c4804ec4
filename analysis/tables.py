"""Tables as CSV and LaTeX. ``DataFrame.to_latex`` needs jinja2, which the study environment cannot have (oTree pins
markupsafe 1.1.1), so LaTeX is written by :func:`latex_table`: a booktabs ``tabular`` with special characters
escaped and numbers formatted to a fixed number of significant digits.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
                  ">": r"\textgreater{}", "|": r"\textbar{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def format_value(value: Any, *, digits: int = 4) -> str:
    """Integers as integers, floats to ``digits`` significant digits, missing as an empty cell."""
    if value is None or (isinstance(value, (float, np.floating)) and not math.isfinite(float(value))):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return str(int(f)) if f.is_integer() and abs(f) < 1e15 else f"{f:.{digits}g}"
    return str(value)


def latex_table(frame: pd.DataFrame, *, caption: str = "", label: str = "", digits: int = 4) -> str:
    """A standalone-includable ``table`` environment (needs ``\\usepackage{booktabs}``)."""
    align = "".join("r" if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
                    else "l" for c in frame.columns)
    lines = [r"\begin{table}[ht]", r"\centering", rf"\begin{{tabular}}{{{align}}}", r"\toprule",
             " & ".join(latex_escape(str(c)) for c in frame.columns) + r" \\", r"\midrule"]
    for row in frame.itertuples(index=False, name=None):
        lines.append(" & ".join(latex_escape(format_value(v, digits=digits)) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{{label.replace('_', '-')}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def csv_table(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n")
