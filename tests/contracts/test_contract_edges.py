"""Contract edges found by mutation testing (scripts/mutants.sh contracts; docs/testing.md): each test here kills
mutants that survived the rest of tests/contracts -- the manifest's and summary's error branches, every refusal of
check_against_bundle with the exact message, the content-hash name and the UTC timestamp format."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from contracts.bundle import MANIFEST_FILE, content_name, read_bundle, utc_now_iso
from contracts.errors import ContractError
from contracts.responses import (EXPORT_COLUMNS, RESPONSE_COLUMNS, check_against_bundle, make_response, parse_responses,
                                 read_responses, write_responses)
from contracts.summary import AGREEMENT_KEYS, SUMMARY_KEYS, read_summary, validate_summary, write_summary
from tests.contracts.test_bundle import build

HEADER = ",".join(RESPONSE_COLUMNS)


def _full_summary() -> dict:
    return {k: 0 for k in SUMMARY_KEYS} | {"agreement_matrix": {k: 0 for k in AGREEMENT_KEYS}}


def _error(call, *args) -> str:
    with pytest.raises(ContractError) as err:
        call(*args)
    return str(err.value)


# ---------------------------------------------------------------------------------------------------- summary

def test_read_summary_refusals_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    assert _error(read_summary, path) == f"{path}: missing (run `python -m analysis report` first)"
    path.write_text("{not json")
    assert _error(read_summary, path).startswith(f"{path}: not valid JSON: ")
    path.write_text("[1, 2]")
    assert _error(read_summary, path) == f"{path}: must hold a JSON object"
    two_missing = {k: v for k, v in _full_summary().items() if k not in ("min_votes", "majority_ties")}
    path.write_text(json.dumps(two_missing))
    assert _error(read_summary, path) == f"{path}: missing key(s): min_votes, majority_ties"
    for bad in ({"human_correct_algo_correct": 0}, [0, 0, 0, 0], None):
        path.write_text(json.dumps(_full_summary() | {"agreement_matrix": bad}))
        assert _error(read_summary, path) == (f"{path}: agreement_matrix must have keys "
                                              f"{', '.join(AGREEMENT_KEYS)}")


def test_summary_round_trip_is_utf8_json(tmp_path: Path) -> None:
    s = _full_summary() | {"note": "Dawid–Skene, é"}
    write_summary(tmp_path / "summary.json", s)
    assert json.loads((tmp_path / "summary.json").read_bytes().decode("utf-8")) == s
    assert read_summary(tmp_path / "summary.json") == s
    assert _error(validate_summary, {}, "x.json").startswith("x.json: missing key(s): participants_total, ")


# ---------------------------------------------------------------------------------------------------- manifest

@pytest.mark.parametrize("edit, message", [
    (lambda m: [1], "must hold a JSON object"),
    (lambda m: {k: v for k, v in m.items() if k not in ("software", "generators")},
     "missing key(s): generators, software"),
    (lambda m: m | {"generators": "alpha"}, "`generators` must be a non-empty list"),
    (lambda m: m | {"generators": [{"id": "alpha"}] + m["generators"][1:]},
     "generators[0] must be an object with keys id, label, source, resolution, latent_dim"),
    (lambda m: m | {"generators": m["generators"][:1] + [m["generators"][1] | {"id": "PLACEBO"}]},
     "generators[1].id 'PLACEBO' must be a short id"),
    (lambda m: m | {"generators": m["generators"][:2] + [m["generators"][2] | {"resolution": "big"}]},
     "generators[2]: resolution and latent_dim must be integers"),
    (lambda m: m | {"generators": [m["generators"][0], m["generators"][0], m["generators"][2]]},
     "duplicate generator ids: ['alpha', 'alpha', 'gamma']"),
    (lambda m: m | {"reconstruction": {"steps": 1}},
     "`reconstruction` must be an object with keys steps, lr, attempts, distance, seed"),
    (lambda m: m | {"reconstruction": m["reconstruction"] | {"lr": "fast"}},
     "`reconstruction`: steps, attempts and seed must be integers, lr a number"),
    (lambda m: m | {"reconstruction": m["reconstruction"] | {"attempts": 0}},
     "`reconstruction.attempts` must be >= 1, got 0"),
])
def test_manifest_refusals(tmp_path: Path, edit, message: str) -> None:
    root = build(tmp_path / "b")
    manifest = json.loads((root / MANIFEST_FILE).read_text())
    (root / MANIFEST_FILE).write_text(json.dumps(edit(manifest)))
    assert _error(read_bundle, root).startswith(f"{root / MANIFEST_FILE}: ")
    assert message in _error(read_bundle, root)


def test_manifest_extras_and_non_utf8(tmp_path: Path) -> None:
    root = build(tmp_path / "b")
    manifest = json.loads((root / MANIFEST_FILE).read_text())
    manifest["build"] = {"note": "naïve"}
    manifest["generators"][0]["weights_sha256"] = "ab"
    (root / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    b = read_bundle(root)
    assert b.manifest.extra == {"build": {"note": "naïve"}}
    assert b.manifest.generators[0].extra == {"weights_sha256": "ab"}
    (root / MANIFEST_FILE).write_bytes(b"\xff\xfe{}")
    assert "not valid JSON" in _error(read_bundle, root)


# ---------------------------------------------------------------------------------------------------- responses

def test_check_against_bundle_refusals_name_line_participant_and_round(tmp_path: Path) -> None:
    bundle = read_bundle(build(tmp_path / "b"))
    path = "export.csv"

    def err(row: str) -> str:
        return _error(check_against_bundle, parse_responses(f"{HEADER}\n{row}\n"), bundle, path)

    root = bundle.root
    assert err("p1,,4,t9,0,alpha|beta|gamma,alpha,0,1,900") == (
        f"{path}: line 2 (participant p1, round 4): unknown target_id 't9': not in {root} "
        "(is this export from a study that served a different bundle?)")
    assert err("p1,,1,t0,0,alpha|delta|gamma,alpha,0,1,900") == (
        f"{path}: line 2 (participant p1, round 1): generator 'delta' is not in the bundle (alpha, beta, gamma)")
    assert err("p2,,2,t0,0,alpha|beta|gamma,alpha,3,1,900") == (
        f"{path}: line 2 (participant p2, round 2): chosen_attempt 3 but the bundle has 3 attempts")
    assert err("p1,,1,t1,0,alpha|beta|gamma,alpha,0,1,900") == (
        f"{path}: line 2 (participant p1, round 1): correct=1 disagrees with the bundle's true generator 'beta' "
        "(export from a different bundle?)")
    assert err("p1,,1,t1,0,alpha|beta|gamma,beta,0,0,900") == (
        f"{path}: line 2 (participant p1, round 1): correct=0 disagrees with the bundle's true generator 'beta' "
        "(export from a different bundle?)")
    # the last attempt and a placebo row are fine; responses built in memory are numbered, not lined
    check_against_bundle(parse_responses(f"{HEADER}\np1,,1,t0,1,alpha|PLACEBO|gamma,PLACEBO,,1,900\n"
                                         f"p1,,2,t1,0,alpha|beta|gamma,beta,2,1,900\n"), bundle, path)
    ok = make_response(participant_code="p3", participant_label="", round_number=1, target_id="t0",
                       true_generator="alpha", row_order=("alpha", "beta", "gamma"), chosen_generator="beta",
                       chosen_attempt=0, response_ms=1)
    bad = make_response(participant_code="p3", participant_label="", round_number=2, target_id="t8",
                        true_generator="alpha", row_order=("alpha", "beta", "gamma"), chosen_generator="beta",
                        chosen_attempt=0, response_ms=1)
    assert _error(check_against_bundle, [ok, bad], bundle).startswith(
        "<responses>: response 2 (participant p3, round 2): unknown target_id 't8'")


# ---------------------------------------------------------------------------------------------------- names, time

def test_content_name_is_the_sha256_prefix() -> None:
    data = b"an image"
    assert content_name(data) == hashlib.sha256(data).hexdigest()[:32] + ".png"
    assert content_name(data, ".jpg") == hashlib.sha256(data).hexdigest()[:32] + ".jpg"
    assert len(content_name(b"")) == 36


def test_utc_now_iso_is_utc_seconds_with_z() -> None:
    text = utc_now_iso()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text), text
    stamp = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert abs((datetime.now(timezone.utc) - stamp).total_seconds()) < 5


def test_read_responses_names_the_file_and_writes_plain_newlines(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    assert _error(read_responses, missing) == (
        f"{missing}: no such responses file (export it from the oTree admin Data page)")
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{HEADER}\np1,,one,t0,0,alpha|beta|gamma,alpha,0,1,900\n")
    assert _error(read_responses, bad).startswith(f"{bad}, line 2: round_number must be an integer")
    rows = [make_response(participant_code="p1", participant_label="", round_number=1, target_id="t0",
                          true_generator="alpha", row_order=("alpha", "beta", "gamma"), chosen_generator="alpha",
                          chosen_attempt=0, response_ms=5)]
    write_responses(tmp_path / "r.csv", rows)
    # the writer writes the current export (condition last: conditions.md); HEADER is the version-1 reader's header
    assert (tmp_path / "r.csv").read_bytes() == (
        f"{','.join(EXPORT_COLUMNS)}\np1,,1,t0,0,alpha|beta|gamma,alpha,0,1,5,clean\n".encode())


@pytest.mark.parametrize("row, message", [
    (",,1,t0,0,alpha|beta|gamma,alpha,0,1,900", "<responses>, line 2: empty participant_code"),
    ("p1,,1,,0,alpha|beta|gamma,alpha,0,1,900", "<responses>, line 2: empty target_id"),
    ("p1,,0,t0,0,alpha|beta|gamma,alpha,0,1,900", "<responses>, line 2: round_number must be >= 1, got 0"),
    ("p1,,1,t0,0,alpha,alpha,0,1,900",
     "<responses>, line 2: row_order must list at least two rows separated by '|', got 'alpha'"),
    ("p1,,1,t0,0,alpha||gamma,alpha,0,1,900",
     "<responses>, line 2: row_order must list at least two rows separated by '|', got 'alpha||gamma'"),
    ("p1,,1,t0,0,alpha|PLACEBO|gamma,alpha,0,0,900", "has a PLACEBO row"),
    ("p1,,1,t0,1,alpha|PLACEBO|gamma,PLACEBO,1,1,900",
     "<responses>, line 2: chosen_attempt must be empty when the PLACEBO row was chosen"),
    ("p1,,1,t0,0,alpha|beta|gamma,alpha,-1,1,900", "<responses>, line 2: chosen_attempt must be >= 0, got -1"),
    ("p1,,1,t0,0,alpha|beta|gamma,alpha,0,1,-5", "<responses>, line 2: response_ms must be a non-negative number, "
                                                 "got '-5'"),
    ("p1,,1,t0,0,alpha|beta|gamma,alpha,0,1,inf", "response_ms must be a non-negative number, got 'inf'"),
])
def test_parse_row_refusals(row: str, message: str) -> None:
    assert message in _error(parse_responses, f"{HEADER}\n{row}\n")


def test_two_rows_suffice_and_duplicates_name_the_first_line(tmp_path: Path) -> None:
    ok = parse_responses(f"{HEADER}\np1,,1,t0,0,alpha|beta,beta,0,0,900\n")
    assert list(ok[0].row_order) == ["alpha", "beta"]
    text = (f"{HEADER}\np1,,1,t0,0,alpha|beta,beta,0,0,900\np1,,2,t0,0,alpha|beta,beta,0,0,900\n"
            f"p1,,1,t1,0,alpha|beta,beta,0,1,900\n")
    assert _error(parse_responses, text) == ("<responses>, line 4: duplicate answer for participant 'p1', round 1 "
                                             "(first on line 2)")
    assert _error(parse_responses, HEADER + "\n") == "<responses>: no responses (header only)"
    empty = tmp_path / "empty.csv"
    empty.write_text("  \n")
    assert _error(read_responses, empty) == f"{empty}: empty file (no header, no responses)"
    partial = {k: 0 for k in SUMMARY_KEYS if k != "votes_total"}
    assert _error(write_summary, tmp_path / "s.json", partial) == f"{tmp_path / 's.json'}: missing key(s): votes_total"
