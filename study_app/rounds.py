"""What one round shows and what a click means: pure functions (no oTree, no I/O).

A round shows the target and ``rows x attempts`` reconstructions, numbered as *slots* 1..rows*attempts in
reading order (row by row, left to right). Row = candidate generator (or ``PLACEBO``: three copies of the
target), column = attempt. Row order and, independently per row, column order are shuffled per round. The
browser only ever sees slot numbers and opaque image URLs; the server keeps the slot -> (row, attempt) map.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from contracts.responses import PLACEBO, ROW_SEPARATOR

CELL_SEPARATOR = ","
PRACTICE, MAIN = "practice", "main"  # the two phases: the Practice and Rounds pages (Trial.phase, live messages)


@dataclass(frozen=True)
class Cell:
    row: str                # generator id or PLACEBO
    attempt: int | None     # None for the placebo row


@dataclass(frozen=True)
class Layout:
    row_order: tuple[str, ...]   # top to bottom
    cells: tuple[Cell, ...]      # slot 1 .. n, row-major

    @property
    def is_placebo(self) -> bool:
        return PLACEBO in self.row_order

    def encode(self) -> str:
        """Compact text for the database: ``gen:attempt`` per slot, ``PLACEBO:`` for copies of the target."""
        return CELL_SEPARATOR.join(f"{c.row}:{'' if c.attempt is None else c.attempt}" for c in self.cells)

    @staticmethod
    def decode(text: str, n_rows: int) -> Layout:
        cells = []
        for part in text.split(CELL_SEPARATOR):
            row, _, attempt = part.partition(":")
            cells.append(Cell(row, int(attempt) if attempt else None))
        per_row = len(cells) // n_rows
        return Layout(tuple(cells[i * per_row].row for i in range(n_rows)), tuple(cells))

    def row_order_text(self) -> str:
        return ROW_SEPARATOR.join(self.row_order)


class AnswerError(ValueError):
    """A rejected answer. ``code`` is one of: bad_message, bad_choice, not_served, conflict."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def placebo_schedule(n_rounds: int, probability: float, rng: random.Random) -> tuple[int, ...]:
    """1-based round numbers that are placebo rounds: each with ``probability``, and at least one.

    If no round came up, one is forced at a uniformly random round (so every participant can be checked).
    """
    if n_rounds < 1:
        raise ValueError(f"n_rounds must be >= 1, got {n_rounds}")
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"placebo probability must be in [0, 1], got {probability}")
    rounds = tuple(r for r in range(1, n_rounds + 1) if rng.random() < probability)
    return rounds or (rng.randint(1, n_rounds),)


def make_layout(generator_ids: Sequence[str], attempts: int, *, placebo: bool, rng: random.Random) -> Layout:
    """Shuffle rows and, per row, columns; on a placebo round one row at a random position is the copies row."""
    if len(generator_ids) < 2:
        raise ValueError(f"need at least 2 generators, got {list(generator_ids)}")
    rows: list[str] = list(generator_ids)
    rng.shuffle(rows)
    if placebo:
        rows[rng.randrange(len(rows))] = PLACEBO
    cells: list[Cell] = []
    for row in rows:
        if row == PLACEBO:
            cells.extend(Cell(PLACEBO, None) for _ in range(attempts))
        else:
            order = list(range(attempts))
            rng.shuffle(order)
            cells.extend(Cell(row, a) for a in order)
    return Layout(tuple(rows), tuple(cells))


def parse_choice(value: object, n_slots: int) -> int:
    """A slot number 1..n_slots from an untrusted message value, or AnswerError('bad_choice')."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise AnswerError("bad_choice", f"choice must be a slot number 1-{n_slots}")
    try:
        slot = int(value)
    except ValueError:
        raise AnswerError("bad_choice", f"choice must be a slot number 1-{n_slots}") from None
    if not 1 <= slot <= n_slots:
        raise AnswerError("bad_choice", f"choice {slot} outside 1-{n_slots}")
    return slot


def parse_response_ms(value: object) -> float:
    """Browser-measured milliseconds from all images shown to the click (non-negative, finite, < 1 day)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AnswerError("bad_message", "response_ms must be a number")
    ms = float(value)
    if not 0.0 <= ms < 86_400_000.0:
        raise AnswerError("bad_message", f"response_ms {value!r} out of range")
    return ms


def check_answer(*, served_round: int | None, served_token: str | None, answered_choice: int | None,
                 round_number: object, token: object, choice: int) -> bool:
    """Decide what to do with an answer for the trial the server has under (round_number, token).

    Returns True for a new answer to record, False for an exact duplicate (acknowledge, do not count).
    Raises AnswerError('not_served') for a round/token never served to this participant and
    AnswerError('conflict') for a second, different answer to an answered round.
    """
    if served_round is None or served_token is None or round_number != served_round or token != served_token:
        raise AnswerError("not_served", f"round {round_number!r} was not served to you")
    if answered_choice is None:
        return True
    if answered_choice == choice:
        return False
    raise AnswerError("conflict", f"round {served_round} was already answered with another choice")
