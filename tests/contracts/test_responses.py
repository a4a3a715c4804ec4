"""The responses export contract: derived fields, round trip, and one clear error per bad row."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.bundle import read_bundle
from contracts.errors import ContractError
from contracts.responses import (
    EXPORT_COLUMNS,
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
from tests.helpers import make_bundle

HEADER = ",".join(RESPONSE_COLUMNS)        # a version-1 export: no condition column
HEADER_V2 = ",".join(EXPORT_COLUMNS)


def test_make_response_derives_placebo_and_correct() -> None:
    r = make_response(participant_code="p1", participant_label="W1", round_number=1, target_id="t0",
                      true_generator="alpha", row_order=("beta", "alpha", "gamma"), chosen_generator="alpha",
                      chosen_attempt=2, response_ms=1234)
    assert (r.is_placebo, r.correct) == (False, True)
    assert r.to_row() == ["p1", "W1", "1", "t0", "0", "beta|alpha|gamma", "alpha", "2", "1", "1234", "clean"]
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
    assert (tmp_path / "r.csv").read_text().splitlines()[0] == HEADER_V2


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


# ------------------------------------------------------------------------------------- conditions (schema v2)


def test_condition_round_trips_and_version_1_reads_as_clean(tmp_path: Path) -> None:
    rows = [make_response(participant_code="p1", participant_label="", round_number=1, target_id="t0",
                          true_generator="alpha", row_order=("alpha", "beta"), chosen_generator="alpha",
                          chosen_attempt=0, response_ms=10, condition="jpeg:q=50")]
    write_responses(tmp_path / "r.csv", rows)
    assert (tmp_path / "r.csv").read_text().splitlines()[1].endswith(",jpeg:q=50")
    assert read_responses(tmp_path / "r.csv")[0].condition == "jpeg:q=50"
    old = parse_responses(f"{HEADER}\n{GOOD}\n")             # version 1: no condition column
    assert old[0].condition == "clean" and old[0].extra == {}
    with pytest.raises(ContractError, match="line 2: empty condition"):
        parse_responses(f"{HEADER_V2}\n{GOOD},\n", "export.csv")


def _v2_export(bundle_targets: dict[str, str], picks: list[tuple[str, str]]) -> str:
    """An export (v2 header) answering each (target, condition as written) with its true generator."""
    lines = [HEADER_V2]
    for i, (tid, cond) in enumerate(picks):
        truth = bundle_targets[tid]
        lines.append(f"p1,,{i + 1},{tid},0,dcgan|stylegan|progan,{truth},0,1,900,{cond}")
    return "\n".join(lines) + "\n"


def test_check_against_bundle_refuses_a_condition_that_disagrees(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path, n_targets=3, conditions=("clean", "jpeg:q=50", "mirror"))
    truth = {t.target_id: t.true_generator for t in bundle.targets}
    good = [(t.target_id, t.condition) for t in bundle.targets]
    check_against_bundle(parse_responses(_v2_export(truth, good)), bundle)
    swapped = [("t000k1", "mirror")]                                    # t000k1 is jpeg:q=50 in the bundle
    with pytest.raises(ContractError, match=r"condition 'mirror' disagrees with the bundle, where target "
                                            r"'t000k1' is 'jpeg:q=50'"):
        check_against_bundle(parse_responses(_v2_export(truth, swapped)), bundle, "export.csv")
    # a version-1 export reads as all-clean: fine on the clean targets, refused on a perturbed one
    v1 = f"{HEADER}\np1,,1,t000,0,dcgan|stylegan|progan,{truth['t000']},0,1,900\n"
    check_against_bundle(parse_responses(v1), bundle)
    v1_bad = f"{HEADER}\np1,,1,t000k2,0,dcgan|stylegan|progan,{truth['t000k2']},0,1,900\n"
    with pytest.raises(ContractError, match="version-1 export, without a condition column, reads as clean"):
        check_against_bundle(parse_responses(v1_bad), bundle)


def test_version_1_bundle_and_version_1_export_still_work(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path, n_targets=3)                       # schema_version 1
    assert bundle.manifest.schema_version == 1
    truth = {t.target_id: t.true_generator for t in bundle.targets}
    v1 = "\n".join([HEADER, *(f"p1,,{i + 1},{tid},0,dcgan|stylegan|progan,{g},0,1,900"
                              for i, (tid, g) in enumerate(truth.items()))]) + "\n"
    check_against_bundle(parse_responses(v1), bundle)
    check_against_bundle(parse_responses(_v2_export(truth, [(t, "clean") for t in truth])), bundle)
