"""The responses export: one CSV row per answered (non-practice) round. Written by the study app, read by the analysis.

Columns (docs/contracts.md): participant_code, participant_label, round_number, target_id, is_placebo,
row_order, chosen_generator, chosen_attempt, correct, response_ms, and (docs/contracts.md addendum) ``condition``:
the target's condition, copied from the bundle. An export without ``condition`` (version 1) reads as all-clean.
The bundle is the truth: :func:`check_against_bundle` refuses an export whose condition disagrees with it.
Extra columns are allowed and preserved.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from contracts.atomic import atomic_write_text
from contracts.bundle import Bundle
from contracts.conditions import CLEAN
from contracts.csvfile import iter_rows, read_text
from contracts.errors import ContractError

PLACEBO = "PLACEBO"
ROW_SEPARATOR = "|"
RESPONSE_COLUMNS: tuple[str, ...] = (
    "participant_code", "participant_label", "round_number", "target_id", "is_placebo", "row_order",
    "chosen_generator", "chosen_attempt", "correct", "response_ms",
)  # required: a version-1 export has exactly these
CONDITION_COLUMN = "condition"
EXPORT_COLUMNS: tuple[str, ...] = (*RESPONSE_COLUMNS, CONDITION_COLUMN)  # what the study writes


@dataclass(frozen=True)
class Response:
    participant_code: str
    participant_label: str
    round_number: int
    target_id: str
    is_placebo: bool
    row_order: tuple[str, ...]
    chosen_generator: str
    chosen_attempt: int | None
    correct: bool
    response_ms: float
    extra: Mapping[str, str] = field(default_factory=dict)
    line: int | None = field(default=None, compare=False)  # line in the export it was read from, if any
    condition: str = CLEAN    # the target's condition (a version-1 export has none: clean)

    def to_row(self) -> list[str]:
        """:data:`EXPORT_COLUMNS`, in order, as strings (what the export writes)."""
        return [
            self.participant_code, self.participant_label, str(self.round_number), self.target_id,
            "1" if self.is_placebo else "0", ROW_SEPARATOR.join(self.row_order), self.chosen_generator,
            "" if self.chosen_attempt is None else str(self.chosen_attempt), "1" if self.correct else "0",
            _format_ms(self.response_ms), self.condition,
        ]


def is_correct(*, chosen_generator: str, true_generator: str, is_placebo: bool) -> bool:
    """The contract's `correct`: the chosen row is the truth (placebo rounds: the PLACEBO row was chosen)."""
    return chosen_generator == (PLACEBO if is_placebo else true_generator)


def make_response(*, participant_code: str, participant_label: str, round_number: int, target_id: str,
                  true_generator: str, row_order: Sequence[str], chosen_generator: str, chosen_attempt: int | None,
                  response_ms: float, condition: str = CLEAN) -> Response:
    """Build a response row, deriving ``is_placebo`` and ``correct`` from the row order and the truth.
    ``condition`` is the target's condition in the bundle (conditions.md)."""
    placebo = PLACEBO in row_order
    return Response(participant_code, participant_label or "", round_number, target_id, placebo, tuple(row_order),
                    chosen_generator, None if chosen_generator == PLACEBO else chosen_attempt,
                    is_correct(chosen_generator=chosen_generator, true_generator=true_generator, is_placebo=placebo),
                    response_ms, condition=condition)


def _format_ms(ms: float) -> str:
    return str(int(ms)) if float(ms).is_integer() else f"{ms:.1f}"


def responses_csv(responses: Iterable[Response]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(EXPORT_COLUMNS)
    for r in responses:
        w.writerow(r.to_row())
    return buf.getvalue()


def write_responses(path: str | Path, responses: Iterable[Response]) -> None:
    atomic_write_text(path, responses_csv(responses))


def read_responses(path: str | Path) -> list[Response]:
    """Read and validate an export. Raises :class:`ContractError` naming the file, line and problem."""
    path = Path(path)
    text = read_text(path, missing="no such responses file (export it from the oTree admin Data page)")
    if not text.strip():
        raise ContractError(path, "empty file (no header, no responses)")
    return parse_responses(text, path)


def parse_responses(text: str, path: str | Path = "<responses>") -> list[Response]:
    out: list[Response] = []
    seen: dict[tuple[str, int], int] = {}
    for line, row in iter_rows(text, path, RESPONSE_COLUMNS):
        r = _parse_row(path, line, row)
        key = (r.participant_code, r.round_number)
        if key in seen:
            raise ContractError(path, f"duplicate answer for participant {r.participant_code!r}, round "
                                      f"{r.round_number} (first on line {seen[key]})", line=line)
        seen[key] = line
        out.append(r)
    if not out:
        raise ContractError(path, "no responses (header only)")
    return out


def _parse_row(path: str | Path, line: int, row: Mapping[str, str]) -> Response:
    def fail(problem: str) -> ContractError:
        return ContractError(path, problem, line=line)

    def flag(col: str) -> bool:
        v = row[col].strip()
        if v not in ("0", "1"):
            raise fail(f"{col} must be 0 or 1, got {row[col]!r}")
        return v == "1"

    def integer(col: str) -> int:
        try:
            return int(row[col])
        except ValueError:
            raise fail(f"{col} must be an integer, got {row[col]!r}") from None

    code = row["participant_code"].strip()
    if not code:
        raise fail("empty participant_code")
    target = row["target_id"].strip()
    if not target:
        raise fail("empty target_id")
    round_number = integer("round_number")
    if round_number < 1:
        raise fail(f"round_number must be >= 1, got {round_number}")
    placebo = flag("is_placebo")
    order = tuple(row["row_order"].split(ROW_SEPARATOR)) if row["row_order"] else ()
    if len(order) < 2 or any(not g for g in order):
        raise fail(f"row_order must list at least two rows separated by '|', got {row['row_order']!r}")
    if (PLACEBO in order) != placebo:
        raise fail(f"is_placebo={int(placebo)} but row_order {row['row_order']!r} "
                   f"{'has no' if placebo else 'has a'} {PLACEBO} row")
    chosen = row["chosen_generator"].strip()
    if chosen not in order:
        raise fail(f"chosen_generator {chosen!r} is not one of the rows shown ({row['row_order']})")
    if chosen == PLACEBO:
        if row["chosen_attempt"].strip():
            raise fail("chosen_attempt must be empty when the PLACEBO row was chosen")
        attempt = None
    else:
        attempt = integer("chosen_attempt")
        if attempt < 0:
            raise fail(f"chosen_attempt must be >= 0, got {attempt}")
    correct = flag("correct")
    try:
        ms = float(row["response_ms"])
    except ValueError:
        raise fail(f"response_ms must be a number, got {row['response_ms']!r}") from None
    if not math.isfinite(ms) or ms < 0:
        raise fail(f"response_ms must be a non-negative number, got {row['response_ms']!r}")
    condition = CLEAN
    if CONDITION_COLUMN in row:
        condition = row[CONDITION_COLUMN].strip()
        if not condition:
            raise fail(f"empty {CONDITION_COLUMN} (the target's condition in the bundle, e.g. {CLEAN})")
    extra = {k: v for k, v in row.items() if k not in EXPORT_COLUMNS}
    return Response(code, row["participant_label"], round_number, target, placebo, order, chosen, attempt, correct,
                    ms, extra, line, condition)


def check_against_bundle(responses: Sequence[Response], bundle: Bundle, path: str | Path = "<responses>") -> None:
    """Every response must refer to the bundle's targets and generators, with `correct` matching its truth.

    A mismatch almost always means the export comes from a study that served another bundle.
    """
    truth = {t.target_id: t.true_generator for t in bundle.targets}
    condition = {t.target_id: t.condition for t in bundle.targets}
    gens = set(bundle.generator_ids)
    for i, r in enumerate(responses):
        where = (f"line {r.line}" if r.line is not None else f"response {i + 1}") + \
            f" (participant {r.participant_code}, round {r.round_number})"
        if r.target_id not in truth:
            raise ContractError(path, f"{where}: unknown target_id {r.target_id!r}: not in {bundle.root} "
                                      "(is this export from a study that served a different bundle?)")
        unknown = [g for g in r.row_order if g != PLACEBO and g not in gens]
        if unknown:
            raise ContractError(path, f"{where}: generator {unknown[0]!r} is not in the bundle "
                                      f"({', '.join(bundle.generator_ids)})")
        if r.chosen_attempt is not None and r.chosen_attempt >= bundle.attempts:
            raise ContractError(path, f"{where}: chosen_attempt {r.chosen_attempt} but the bundle has "
                                      f"{bundle.attempts} attempts")
        expected = is_correct(chosen_generator=r.chosen_generator, true_generator=truth[r.target_id],
                              is_placebo=r.is_placebo)
        if expected != r.correct:
            raise ContractError(path, f"{where}: correct={int(r.correct)} disagrees with the bundle's true generator "
                                      f"{truth[r.target_id]!r} (export from a different bundle?)")
        if r.condition != condition[r.target_id]:
            raise ContractError(path, f"{where}: condition {r.condition!r} disagrees with the bundle, where target "
                                      f"{r.target_id!r} is {condition[r.target_id]!r} (export from a different bundle"
                                      + ("; a version-1 export, without a condition column, reads as clean)"
                                         if r.condition == CLEAN else ")"))
