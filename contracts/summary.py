"""The analysis ``summary.json``: the paper's headline numbers, computed on participants kept by the placebo filter.

The analysis writes it; anyone (tests, the README's results table, a notebook) reads it through this module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from contracts.atomic import atomic_write_json
from contracts.errors import ContractError

AGREEMENT_KEYS: tuple[str, ...] = (
    "human_correct_algo_correct", "human_correct_algo_incorrect",
    "human_incorrect_algo_correct", "human_incorrect_algo_incorrect",
)
SUMMARY_KEYS: tuple[str, ...] = (
    "participants_total", "participants_valid", "placebo_threshold", "accuracy_mean", "accuracy_std",
    "votes_total", "images_voted", "votes_per_image_mean", "votes_per_image_std", "min_votes",
    "images_with_min_votes", "agreement_matrix", "label_agreement", "majority_ties",
)
BY_CONDITION_KEYS: tuple[str, ...] = (
    "targets", "algorithm_accuracy", "votes_total", "images_voted", "accuracy_mean", "accuracy_std",
    "images_with_min_votes", "agreement_matrix", "label_agreement",
)  # docs/contracts.md addendum: by_condition's value per condition name
SUMMARY_FILE = "summary.json"


def validate_summary(summary: Mapping[str, Any], path: str | Path = SUMMARY_FILE) -> None:
    missing = [k for k in SUMMARY_KEYS if k not in summary]
    if missing:
        raise ContractError(path, f"missing key(s): {', '.join(missing)}")
    matrix = summary["agreement_matrix"]
    if not isinstance(matrix, Mapping) or any(k not in matrix for k in AGREEMENT_KEYS):
        raise ContractError(path, f"agreement_matrix must have keys {', '.join(AGREEMENT_KEYS)}")
    by_condition = summary.get("by_condition")  # optional: summaries written before conditions have none
    if by_condition is None:
        return
    if not isinstance(by_condition, Mapping) or not by_condition:
        raise ContractError(path, "by_condition must be an object keyed by condition name")
    for name, value in by_condition.items():
        missing = [k for k in BY_CONDITION_KEYS if not isinstance(value, Mapping) or k not in value]
        if missing:
            raise ContractError(path, f"by_condition[{name!r}] missing key(s): {', '.join(missing)}")
        m = value["agreement_matrix"]
        if not isinstance(m, Mapping) or any(k not in m for k in AGREEMENT_KEYS):
            raise ContractError(path, f"by_condition[{name!r}].agreement_matrix must have keys "
                                      f"{', '.join(AGREEMENT_KEYS)}")


def write_summary(path: str | Path, summary: Mapping[str, Any]) -> None:
    validate_summary(summary, path)
    atomic_write_json(path, dict(summary))


def read_summary(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ContractError(path, "missing (run `python -m analysis report` first)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ContractError(path, f"not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ContractError(path, "must hold a JSON object")
    validate_summary(data, path)
    return data
