"""The analysis: from the responses export and the stimulus bundle to the paper's numbers and beyond.

Library use (a notebook)::

    from analysis import load, analyze
    study = load("BUNDLE", "responses.csv")          # tidy DataFrames, read through `contracts`
    result = analyze(study, placebo_threshold=0.8, min_votes=3, n_bootstrap=2000, seed=0)
    result.summary["label_agreement"], result.tables["per_image"]

Every step is also a function over tidy DataFrames (``analysis.participants``, ``analysis.votes``,
``analysis.agreement``, ``analysis.algorithm``, ``analysis.bootstrap``, ``analysis.models``, ``analysis.timing``,
``analysis.coverage``). Command line: ``python -m analysis report --bundle B --responses R.csv --out DIR``.
"""

from typing import TYPE_CHECKING, Any

from analysis.load import StudyTables, load

if TYPE_CHECKING:
    from analysis.pipeline import Analysis, analyze

__all__ = ["Analysis", "StudyTables", "analyze", "load"]


def __getattr__(name: str) -> Any:
    """``analyze`` and ``Analysis`` are imported on first use: they pull in statsmodels, crowd-kit and scipy, which
    the paper's numbers alone (``load`` and the tidy functions) do not need."""
    if name in ("analyze", "Analysis"):
        from analysis import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
