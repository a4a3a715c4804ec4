"""The responses export contract: derived fields, round trip, and one clear error per bad row."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.bundle import read_bundle
from contracts.errors import ContractError
from contracts.responses import (
    PLACEBO,
    RESPONSE_COLUMNS,
    check_against_bundle,
    make_response,
    parse_responses,
    read_responses,
    responses_csv,
    write_responses,
)
from tests.contracts.test_bundle import build

HEADER = ",".join(RESPONSE_COLUMNS)


def test_make_response_derives_placebo_and_correct() -> None:
    r = make_response(participant_code="p1", participant_label="W1", round_number=1, target_id="t0",
                      true_generator="alpha", row_order=("beta", "alpha", "gamma"), chosen_generator="alpha",
                      chosen_attempt=2, response_ms=1234)
    assert (r.is_placebo, r.correct) == (False, True)
    assert r.to_row() == ["p1", "W1", "1", "t0", "0", "beta|alpha|gamma", "alpha", "2", "1", "1234"]
    p = make_response(participant_code="p1", participant_label="", round_number=2, target_id="t0",
                      true_generator="alpha", row_order=("beta", PLACEBO, "gamma"), chosen_generator="alpha",
                      chosen_attempt=0, response_ms=800.5)
    assert (p.is_placebo, p.correct) == (True, False)  # placebo round: only the copies row is correct
    q = make_response(participant_code="p1", participant_label="", round_number=3, target_id="t0",
                      true_generator="alpha", row_order=("beta", PLACEBO, "gamma"), chosen_generator=PLACEBO,
                      chosen_attempt=1, response_ms=500)
    assert (q.correct, q.chosen_attempt, q.to_row()[7]) == (True, None, "")


def test_round_trip(tmp_path: Path) -> None:
    rows = [make_response(participant_code="p1", participant_label="", round_number=i + 1, target_id="t0",
                          true_generator="alpha", row_order=("alpha", "beta", "gamma"), chosen_generator=g,
                          chosen_attempt=i, response_ms=100 * i) for i, g in enumerate(["alpha", "beta", "gamma"])]
    write_responses(tmp_path / "r.csv", rows)
    assert read_responses(tmp_path / "r.csv") == rows
    assert (tmp_path / "r.csv").read_text().splitlines()[0] == HEADER


GOOD = "p1,,1,t0,0,alpha|beta|gamma,alpha,0,1,900"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("participant_code,round_number\np1,1\n", "missing column(s): participant_label"),
        (f"{HEADER}\n", "no responses"),
        (f"{HEADER}\n{GOOD}\n{GOOD}\n", "line 3: duplicate answer for participant 'p1', round 1"),
        (f"{HEADER}\np1,,one,t0,0,alpha|beta|gamma,alpha,0,1,900\n", "line 2: round_number must be an integer"),
        (f"{HEADER}\np1,,1,t0,0,alpha|beta|gamma,alpha,0,1,fast\n", "response_ms must be a number"),
        (f"{HEADER}\np1,,1,t0,1,alpha|beta|gamma,alpha,0,1,900\n", "has no PLACEBO row"),
        (f"{HEADER}\np1,,1,t0,0,alpha|beta|gamma,delta,0,1,900\n", "chosen_generator 'delta' is not one of"),
        (f"{HEADER}\np1,,1,t0,2,alpha|beta|gamma,alpha,0,1,900\n", "is_placebo must be 0 or 1"),
        (f"{HEADER}\np1,,1,t0,0,alpha|beta|gamma,alpha,0,1\n", "different number of fields"),
    ],
)
def test_bad_exports_name_line_and_problem(text: str, message: str) -> None:
    with pytest.raises(ContractError) as err:
        parse_responses(text, "export.csv")
    assert message in str(err.value) and str(err.value).startswith("export.csv")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("")
    with pytest.raises(ContractError, match="empty file"):
        read_responses(tmp_path / "r.csv")


def test_check_against_bundle(tmp_path: Path) -> None:
    bundle = read_bundle(build(tmp_path / "b"))  # t0 is alpha's, t1 beta's
    ok = parse_responses(f"{HEADER}\n{GOOD}\np1,,2,t1,0,gamma|beta|alpha,beta,2,1,700\n")
    check_against_bundle(ok, bundle)
    with pytest.raises(ContractError, match="unknown target_id 't9'"):
        check_against_bundle(parse_responses(f"{HEADER}\n{GOOD.replace('t0', 't9')}\n"), bundle)
    with pytest.raises(ContractError, match="disagrees with the bundle's true generator"):
        check_against_bundle(parse_responses(f"{HEADER}\np1,,1,t1,0,alpha|beta|gamma,alpha,0,1,900\n"), bundle)
    assert responses_csv(ok).count("\n") == 3
