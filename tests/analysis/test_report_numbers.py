"""The report's own numbers, read back from report.html and the CSV tables the CLI wrote, equal summary.json's.

On the hand-computed study (7 participants, 4 kept, 3 excluded), so a sentence that prints the wrong key (e.g.
total participants as "passed") cannot go unnoticed."""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from analysis.cli import main
from analysis.report import PERCENT_KEYS
from contracts.responses import write_responses
from tests.analysis.builders import build_bundle
from tests.analysis.test_hand import TARGETS, hand_responses


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, Path]:
    tmp = tmp_path_factory.mktemp("report")
    bundle = build_bundle(tmp / "bundle", TARGETS, distances={("t4", "dcgan", 0): 0.9})
    write_responses(tmp / "responses.csv", hand_responses())
    out = tmp / "out"
    assert main(["report", "--bundle", str(bundle.root), "--responses", str(tmp / "responses.csv"), "--out", str(out),
                 "--bootstrap", "50", "--min-votes", "3"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    text = html.unescape(re.sub(r"<[^>]+>", "", (out / "report.html").read_text(encoding="utf-8")))
    return summary, " ".join(text.split()), out


def _pct(text: str) -> float:
    return float(text.rstrip("%")) / 100


def test_prose_numbers_are_the_summary(report: tuple[dict[str, Any], str, Path]) -> None:
    s, text, _ = report
    assert (s["participants_total"], s["participants_valid"]) == (7, 4)   # the fixture: they differ

    m = re.search(r"(\d+) participants answered at least one round; (\d+) passed the placebo check \(placebo "
                  r"accuracy above ([\d.]+)\) and (\d+) were excluded\. Kept participants attributed ([\d.]+)% of "
                  r"non-placebo rounds correctly on average \(sample sd ([\d.]+)%", text)
    assert m, text[:2000]
    total, passed, threshold, excluded, acc, sd = m.groups()
    assert int(total) == s["participants_total"]
    assert int(passed) == s["participants_valid"]
    assert int(excluded) == s["participants_total"] - s["participants_valid"]
    assert float(threshold) == s["placebo_threshold"]
    assert _pct(acc) == pytest.approx(s["accuracy_mean"], abs=5e-5)
    assert _pct(sd) == pytest.approx(s["accuracy_std"], abs=5e-5)

    m = re.search(r"Kept participants cast (\d+) votes on (\d+) images: ([\d.]+) votes per voted image on average "
                  r"\(sd ([\d.]+)\)\. (\d+) images received at least (\d+) votes and enter the agreement analysis; on "
                  r"(\d+) of them the majority vote was a tie", text)
    assert m, text[:3000]
    votes, images, mean, std, with_min, min_votes, ties = m.groups()
    assert (int(votes), int(images)) == (s["votes_total"], s["images_voted"])
    assert float(mean) == pytest.approx(s["votes_per_image_mean"], rel=1e-3)
    assert float(std) == pytest.approx(s["votes_per_image_std"], rel=1e-3)
    assert (int(with_min), int(min_votes), int(ties)) == (s["images_with_min_votes"], s["min_votes"],
                                                          s["majority_ties"])

    m = re.search(r"On the (\d+) images with at least (\d+) votes, the human majority vote and the algorithm picked "
                  r"the same generator on ([\d.]+)% of images", text)
    assert m, text
    assert (int(m.group(1)), int(m.group(2))) == (s["images_with_min_votes"], s["min_votes"])
    assert _pct(m.group(3)) == pytest.approx(s["label_agreement"], abs=5e-5)

    mc = s["beyond_paper"]["mcnemar_exact"]
    m = re.search(r"(\d+) images only the humans got right, (\d+) only the algorithm", text)
    assert m and (int(m.group(1)), int(m.group(2))) == (mc["human_only_correct"], mc["algo_only_correct"])


def test_comparison_table_in_html_and_csv_is_the_summary(report: tuple[dict[str, Any], str, Path]) -> None:
    s, _, out = report
    ours = {**{k: v for k, v in s.items() if not isinstance(v, dict)}, **s["agreement_matrix"]}
    raw = (out / "report.html").read_text(encoding="utf-8")
    rows = re.findall(r"<tr><td class=\"l\">[^<]*</td><td class=\"l\"><code>(\w+)</code></td><td>([^<]*)</td>"
                      r"<td>([^<]*)</td>", raw)
    assert len(rows) >= 15
    checked = 0
    for key, _paper, shown in rows:
        if key not in ours:
            continue
        value = ours[key]
        if value is None:
            assert shown == "n/a", key
        elif key in PERCENT_KEYS:
            assert _pct(shown) == pytest.approx(value, abs=5e-5), key
        else:
            assert float(shown) == pytest.approx(value, rel=1e-3), key
        checked += 1
    assert checked >= 15

    with open(out / "tables" / "paper_comparison.csv", newline="") as f:
        csv_rows = {r["quantity"]: r for r in csv.DictReader(f)}
    for key, value in ours.items():
        if key in csv_rows and value is not None:
            assert float(csv_rows[key]["ours"]) == pytest.approx(value, rel=1e-6), key
    with open(out / "tables" / "agreement_matrix.csv", newline="") as f:
        matrix = list(csv.DictReader(f))
    m = s["agreement_matrix"]
    assert [(r["human_majority"], int(r["algo_correct"]), int(r["algo_incorrect"])) for r in matrix] == [
        ("correct", m["human_correct_algo_correct"], m["human_correct_algo_incorrect"]),
        ("incorrect", m["human_incorrect_algo_correct"], m["human_incorrect_algo_incorrect"])]
    with open(out / "tables" / "dawid_skene.csv", newline="") as f:
        ds = list(csv.DictReader(f))
    for row, scope in zip(ds, s["beyond_paper"]["dawid_skene"]["scope"], strict=True):
        assert row["scope"] == scope["scope"] and int(row["targets"]) == scope["targets"]
        assert float(row["ds_accuracy"]) == pytest.approx(scope["ds_accuracy"], rel=1e-6)
        assert float(row["mv_accuracy"]) == pytest.approx(scope["mv_accuracy"], rel=1e-6)
