"""``python -m analysis report``: what it writes, and what it does with bad input (one line, exit 2, nothing left)."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.cli import main
from analysis.simulate import simulate_study, write_study
from contracts.summary import SUMMARY_KEYS, read_summary

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    sim = simulate_study(n_targets=30, n_participants=14, rounds=25, careless=0.15, dropout=0.2, seed=4)
    return write_study(tmp_path_factory.mktemp("cli"), sim)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def report(bundle: Path, responses: Path, out: Path, *extra: str) -> list[str]:
    return ["report", "--bundle", str(bundle), "--responses", str(responses), "--out", str(out), "--bootstrap", "200",
            *extra]


def test_report_writes_everything(inputs, tmp_path: Path, capsys) -> None:
    bundle, responses = inputs
    out = tmp_path / "out"
    code, stdout, stderr = run(capsys, *report(bundle, responses, out))
    assert code == 0, stderr
    summary = read_summary(out / "summary.json")            # the contract's reader validates the keys
    assert set(SUMMARY_KEYS) <= set(summary)

    def no_nan(constant: str) -> None:
        raise AssertionError(f"summary.json holds {constant}, which is not JSON (undefined must be null)")

    json.loads((out / "summary.json").read_text(), parse_constant=no_nan)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 7
    assert not re.search(r"""(src|href)=["'](https?:|//)""", html)   # nothing fetched: opens offline
    assert "<script" not in html
    assert "89.81%" in html and "93.80%" in html                     # the paper's numbers beside ours
    tables = sorted(p.stem for p in (out / "tables").glob("*.csv"))
    assert tables == sorted(p.stem for p in (out / "tables").glob("*.tex"))
    assert {"paper_comparison", "agreement_matrix", "participants", "per_image", "participant_intervals",
            "algorithm_confusion", "human_confusion", "accuracy_vs_attempts", "generator_difficulty"} <= set(tables)
    with open(out / "tables" / "agreement_matrix.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    m = summary["agreement_matrix"]
    assert int(rows[0]["algo_correct"]) == m["human_correct_algo_correct"]
    assert int(rows[1]["algo_incorrect"]) == m["human_incorrect_algo_incorrect"]
    tex = (out / "tables" / "per_image.tex").read_text()
    assert r"\begin{tabular}" in tex and r"target\_id" in tex
    assert len(list((out / "figures").glob("*.png"))) == 7
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no temporary directory left


def test_same_seed_same_summary(inputs, tmp_path: Path, capsys) -> None:
    bundle, responses = inputs
    assert run(capsys, *report(bundle, responses, tmp_path / "a", "--seed", "3"))[0] == 0
    assert run(capsys, *report(bundle, responses, tmp_path / "b", "--seed", "3"))[0] == 0
    a = json.loads((tmp_path / "a" / "summary.json").read_text())
    b = json.loads((tmp_path / "b" / "summary.json").read_text())
    a["inputs"].pop("responses"), b["inputs"].pop("responses")
    assert a == b


def _corrupt(responses: Path, dst: Path, edit) -> Path:
    with open(responses, newline="") as f:
        rows = list(csv.reader(f))
    rows = edit(rows)
    with open(dst, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return dst


def _set(col: str, value: str, line: int = 2):
    def edit(rows):
        rows[line - 1][rows[0].index(col)] = value
        return rows
    return edit


BAD = {
    "missing column": (lambda rows: [r[:9] + r[10:] for r in rows], r"line 1: missing column\(s\): response_ms"),
    "condition not the bundle's": (_set("condition", "mirror", 3),
                                   r"line 3 \(participant \w+, round \d+\): condition 'mirror' disagrees with the "
                                   r"bundle, where target .t\d+. is 'clean'"),
    "non-numeric": (_set("response_ms", "fast", 3), r"line 3: response_ms must be a number, got 'fast'"),
    "duplicate": (lambda rows: rows + [rows[1]], r"duplicate answer for participant"),
    "unknown target": (_set("target_id", "t99999", 4),
                       r"line 4 \(participant \w+, round \d+\): unknown target_id .t99999."),
    "empty file": (lambda rows: [], r"empty file"),
    "header only": (lambda rows: rows[:1], r"no responses"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_responses_one_line_exit_2_nothing_written(inputs, tmp_path: Path, capsys, case: str) -> None:
    bundle, responses = inputs
    edit, pattern = BAD[case]
    bad = _corrupt(responses, tmp_path / "bad.csv", edit)
    out = tmp_path / "out"
    code, stdout, stderr = run(capsys, *report(bundle, bad, out))
    assert code == 2
    assert stderr.count("\n") == 1 and str(bad) in stderr and re.search(pattern, stderr), stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_responses_from_another_bundle(inputs, tmp_path: Path, capsys) -> None:
    _, responses = inputs
    other = simulate_study(n_targets=30, n_participants=3, rounds=5, seed=99, algorithm_error=0.0)
    # Same target ids, other truths: shift every truth by one generator.
    from dataclasses import replace

    gens = other.manifest.generator_ids
    shifted = replace(other, targets=tuple(replace(t, true_generator=gens[(gens.index(t.true_generator) + 1) % 3])
                                           for t in other.targets))
    other_bundle, _ = write_study(tmp_path / "other", shifted)
    code, _, stderr = run(capsys, *report(other_bundle, responses, tmp_path / "out"))
    assert code == 2 and "different bundle" in stderr and stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_bad_bundle_and_bad_options(inputs, tmp_path: Path, capsys) -> None:
    bundle, responses = inputs
    code, _, stderr = run(capsys, *report(tmp_path / "nope", responses, tmp_path / "out"))
    assert code == 2 and "no such bundle directory" in stderr and stderr.count("\n") == 1
    with pytest.raises(SystemExit) as e:
        main(report(bundle, responses, tmp_path / "out", "--placebo-threshold", "1.5"))
    assert e.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(SystemExit) as e:
        main(report(bundle, responses, tmp_path / "out", "--min-votes", "0"))
    assert e.value.code == 2
    assert not (tmp_path / "out").exists()


def test_earlier_report_is_replaced_whole_or_kept(inputs, tmp_path: Path, capsys) -> None:
    bundle, responses = inputs
    out = tmp_path / "out"
    assert run(capsys, *report(bundle, responses, out))[0] == 0
    (out / "stale.txt").write_text("from an earlier run")
    before = (out / "summary.json").read_bytes()
    bad = _corrupt(responses, tmp_path / "bad.csv", _set("correct", "maybe", 2))
    code, _, stderr = run(capsys, *report(bundle, bad, out))
    assert code == 2 and "line 2: correct must be 0 or 1" in stderr
    assert (out / "stale.txt").exists() and (out / "summary.json").read_bytes() == before   # untouched
    assert run(capsys, *report(bundle, responses, out, "--min-votes", "2"))[0] == 0
    assert not (out / "stale.txt").exists()                                                  # replaced whole
    assert read_summary(out / "summary.json")["min_votes"] == 2


def test_refuses_to_replace_what_is_not_a_report(inputs, tmp_path: Path, capsys) -> None:
    bundle, responses = inputs
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    code, _, stderr = run(capsys, *report(bundle, responses, precious))
    assert code == 2 and "no earlier report" in stderr
    assert (precious / "thesis.tex").read_text() == "do not delete"
    code, _, stderr = run(capsys, *report(bundle, responses, bundle.parent))
    assert code == 2 and "would replace the" in stderr
    assert bundle.is_dir() and responses.is_file()


def test_module_entry_point(inputs, tmp_path: Path) -> None:
    bundle, responses = inputs
    proc = subprocess.run([sys.executable, "-m", "analysis", "report", "--bundle", str(bundle), "--responses",
                           str(responses), "--out", str(tmp_path / "o"), "--bootstrap", "50"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o" / "report.html").is_file()
    proc = subprocess.run([sys.executable, "-m", "analysis"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    shutil.rmtree(tmp_path / "o")


@pytest.mark.parametrize("extra", [("--placebo-threshold", "1.0"), ("--min-votes", "1000"), ("--bootstrap", "0")])
def test_degenerate_studies_still_report(inputs, tmp_path: Path, capsys, extra: tuple[str, str]) -> None:
    """Nobody kept / no image with enough votes / no resampling: the report is written, undefined numbers are null."""
    bundle, responses = inputs
    out = tmp_path / "out"
    code, _, stderr = run(capsys, *report(bundle, responses, out), *extra)   # a repeated option: the last wins
    assert code == 0, stderr
    summary = read_summary(out / "summary.json")
    json.loads((out / "summary.json").read_text(), parse_constant=lambda c: pytest.fail(f"summary.json holds {c}"))
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "n/a" in html or extra[0] == "--bootstrap"
    if extra[0] == "--placebo-threshold":
        assert summary["participants_valid"] == 0 and summary["accuracy_mean"] is None
    if extra[0] == "--min-votes":
        assert summary["images_with_min_votes"] == 0 and summary["label_agreement"] is None
    if extra[0] == "--bootstrap":
        rows = {r["statistic"]: r for r in summary["beyond_paper"]["participant_intervals"]}
        assert rows["accuracy_mean"]["ci_low"] is None and rows["label_agreement"]["ci_low"] is not None


def test_report_with_conditions_has_the_robustness_section_and_figure(tmp_path: Path, capsys) -> None:
    sim = simulate_study(n_targets=15, n_participants=12, rounds=30, careless=0.0, dropout=0.0, seed=2,
                         conditions=("clean", "jpeg:q=50", "mirror"), condition_skill={"mirror": 0.5})
    bundle, responses = write_study(tmp_path / "in", sim)
    out = tmp_path / "out"
    code, _, stderr = run(capsys, *report(bundle, responses, out))
    assert code == 0, stderr
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<h2>Robustness: people vs algorithm</h2>" in html and "Wilcoxon signed-rank" in html
    assert html.count("data:image/png;base64,") == 8 and (out / "figures" / "accuracy_by_condition.png").is_file()
    with open(out / "tables" / "robustness.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["condition"] for r in rows] == ["clean", "jpeg:q=50", "mirror"]
    assert set(read_summary(out / "summary.json")["by_condition"]) == {"clean", "jpeg:q=50", "mirror"}
