"""Placebo scheduling, grid layout / slot mapping and answer validation (study_app.rounds)."""

from __future__ import annotations

import random

import pytest

from contracts.responses import PLACEBO
from study_app.rounds import (AnswerError, Layout, check_answer, make_layout, parse_choice, parse_response_ms,
                              placebo_schedule)

GENS = ("dcgan", "stylegan", "progan")


def test_placebo_schedule_probability_and_at_least_one() -> None:
    counts = [len(placebo_schedule(120, 0.05, random.Random(s))) for s in range(400)]
    assert min(counts) >= 1
    assert 5.0 < sum(counts) / len(counts) < 7.5  # ~ 120 * 0.05 = 6 (plus the rare forced one)
    forced = placebo_schedule(10, 0.0, random.Random(5))
    assert len(forced) == 1 and 1 <= forced[0] <= 10
    assert placebo_schedule(4, 1.0, random.Random(0)) == (1, 2, 3, 4)
    positions = {placebo_schedule(10, 0.0, random.Random(s))[0] for s in range(200)}
    assert positions == set(range(1, 11))  # the forced round is at a random round
    with pytest.raises(ValueError):
        placebo_schedule(10, 1.5, random.Random(0))


def test_layout_shuffles_rows_and_columns_and_maps_every_cell_once() -> None:
    orders, first_cols = set(), set()
    for s in range(200):
        lay = make_layout(GENS, 3, placebo=False, rng=random.Random(s))
        assert sorted(lay.row_order) == sorted(GENS) and not lay.is_placebo
        assert sorted((c.row, c.attempt) for c in lay.cells) == sorted((g, a) for g in GENS for a in range(3))
        for r, row in enumerate(lay.row_order):  # slots are row-major: slot 3r+1..3r+3 belong to row r
            assert {c.row for c in lay.cells[3 * r:3 * r + 3]} == {row}
        orders.add(lay.row_order)
        first_cols.add(lay.cells[0].attempt)
    assert len(orders) == 6 and first_cols == {0, 1, 2}


def test_placebo_layout_has_one_copies_row_at_random_position() -> None:
    positions = set()
    for s in range(100):
        lay = make_layout(GENS, 3, placebo=True, rng=random.Random(s))
        assert lay.is_placebo and lay.row_order.count(PLACEBO) == 1 and len(lay.row_order) == 3
        pos = lay.row_order.index(PLACEBO)
        positions.add(pos)
        assert all(c.row == PLACEBO and c.attempt is None for c in lay.cells[3 * pos:3 * pos + 3])
    assert positions == {0, 1, 2}


def test_layout_encode_decode_roundtrip() -> None:
    for placebo in (False, True):
        lay = make_layout(GENS + ("biggan",), 3, placebo=placebo, rng=random.Random(3))
        back = Layout.decode(lay.encode(), 4)
        assert back == lay and len(back.cells) == 12


def test_layout_needs_two_generators() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        make_layout(("dcgan",), 3, placebo=False, rng=random.Random(0))


@pytest.mark.parametrize("value", [0, 10, -1, "x", 2.5, None, True, [1]])
def test_choice_outside_1_to_9_is_rejected(value: object) -> None:
    with pytest.raises(AnswerError) as e:
        parse_choice(value, 9)
    assert e.value.code == "bad_choice"


def test_choice_accepts_slots_and_numeric_strings() -> None:
    assert [parse_choice(v, 9) for v in (1, 9, "5")] == [1, 9, 5]


@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), "12", None, True])
def test_bad_response_ms_is_rejected(value: object) -> None:
    with pytest.raises(AnswerError):
        parse_response_ms(value)


def test_check_answer_new_duplicate_conflict_not_served() -> None:
    kw = dict(served_round=4, served_token="abc")
    assert check_answer(**kw, answered_choice=None, round_number=4, token="abc", choice=2) is True  # type: ignore
    assert check_answer(**kw, answered_choice=2, round_number=4, token="abc", choice=2) is False  # type: ignore
    with pytest.raises(AnswerError) as e:
        check_answer(**kw, answered_choice=2, round_number=4, token="abc", choice=3)  # type: ignore[arg-type]
    assert e.value.code == "conflict"
    for rnd, tok in ((5, "abc"), (4, "zzz"), ("4", "abc")):
        with pytest.raises(AnswerError) as e:
            check_answer(**kw, answered_choice=None, round_number=rnd, token=tok, choice=1)  # type: ignore
        assert e.value.code == "not_served"
    with pytest.raises(AnswerError):
        check_answer(served_round=None, served_token=None, answered_choice=None, round_number=1, token="a", choice=1)
