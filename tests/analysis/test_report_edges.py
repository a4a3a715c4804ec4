"""The report's wording at the edges (issue 10 #12): one participant, undefined statistics, kappa, plurals, and the
practice targets that can never get votes."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd

from analysis.cli import main
from contracts.responses import responses_csv
from tests.analysis.builders import build_bundle, vote


def _study(tmp_path: Path, n_participants: int) -> tuple[Path, Path, Path]:
    targets = {f"t{i}": ("dcgan" if i % 2 else "stylegan", "dcgan" if i % 2 else "stylegan") for i in range(8)}
    bundle = build_bundle(tmp_path / "bundle", targets)
    rows = []
    for p in range(n_participants):
        for r, tid in enumerate(["t0", "t1", "t2", "t3"]):   # t6, t7: the practice targets, never voted on
            truth = targets[tid][0]
            rows.append(vote(f"p{p}", r + 1, tid, truth, truth=truth))
        rows.append(vote(f"p{p}", 5, "t4", "PLACEBO", truth=targets["t4"][0], placebo=True))
    responses = tmp_path / "responses.csv"
    responses.write_text(responses_csv(rows))
    trials = tmp_path / "trials.csv"
    with trials.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["participant_code", "phase", "target_id"])
        w.writerows([["p0", "practice", "t6"], ["p0", "practice", "t7"], ["p0", "main", "t0"]])
    return bundle.root, responses, trials


def _report(tmp_path: Path, n: int, capsys, *, with_trials: bool = True) -> tuple[str, pd.DataFrame]:
    bundle, responses, trials = _study(tmp_path, n)
    out = tmp_path / "report"
    assert main(["report", "--bundle", str(bundle), "--responses", str(responses), "--out", str(out),
                 "--bootstrap", "100", "--min-votes", "1"] + (["--trials", str(trials)] if with_trials else [])
                ) == 0, capsys.readouterr()
    text = re.sub(r"<[^>]+>", "", (out / "report.html").read_text())
    return text, pd.read_csv(out / "tables" / "votes_per_image.csv")


def test_one_participant_no_interval_no_bad_plural_no_practice_zero(tmp_path: Path, capsys) -> None:
    text, vpi = _report(tmp_path, 1, capsys)
    assert "1 participant answered" in text and "1 participants" not in text
    assert "100.00% to 100.00%" not in text and "95% CI" not in text    # n = 1 is not certainty
    assert "no interval with fewer than 2 kept participants" in text
    assert "CI 0.0% to 100.0%" not in text                             # no interval for an undefined statistic
    # 8 targets, 2 practice (never voted): the histogram counts 6 real targets, 2 of them without votes
    assert dict(zip(vpi["votes"], vpi["images"])) == {0: 2, 1: 4}
    assert "2 practice targets" in text and "No trial export was given" not in text


def test_without_the_trial_export_the_report_says_practice_targets_count_as_unvoted(tmp_path: Path,
                                                                                     capsys) -> None:
    """Without --trials the practice targets cannot be told apart: the histogram counts them as 0-vote images,
    and the votes-per-image section says so instead of passing it over in silence."""
    text, vpi = _report(tmp_path, 1, capsys, with_trials=False)
    assert dict(zip(vpi["votes"], vpi["images"])) == {0: 4, 1: 4}
    assert "No trial export was given (--trials" in text and "2 practice targets" not in text


def test_kappa_is_a_number_and_intervals_with_two(tmp_path: Path, capsys) -> None:
    text, _ = _report(tmp_path, 3, capsys)
    kappa = re.search(r"Cohen's kappa between the two is (\S+) \(([^)]*)\)", text)
    assert kappa, text[:3000]
    assert re.fullmatch(r"-?\d+(\.\d+)?", kappa.group(1))
    assert re.match(r"95% CI -?\d\.\d+ to -?\d\.\d+;", kappa.group(2)), kappa.group(2)  # a number, not a %
    assert "3 participants answered" in text
