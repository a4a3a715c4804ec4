"""``python -m analysis report --bundle BUNDLE --responses RESPONSES.csv --out DIR`` -- a thin edge over
:func:`analysis.load` and :func:`analysis.analyze`.

Everything is written into a temporary directory beside DIR and moved into place at the end, so DIR is either the
complete new report or untouched (a DIR from an earlier run is replaced as a whole). Bad input prints one line
naming the file, the row and the problem on stderr and exits with status 2, leaving nothing behind.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from analysis import option_rules as rules
from analysis.votes import ALLOCATIONS
from contracts.cli import add_commands, make_parser, report
from contracts.errors import ContractError
from contracts.summary import SUMMARY_FILE, write_summary

if TYPE_CHECKING:
    import pandas as pd

    from analysis.load import StudyTables
    from analysis.pipeline import Analysis

EXIT_BAD_INPUT = 2
REPORT_FILE = "report.html"
TABLES_DIR = "tables"
FIGURES_DIR = "figures"

CAPTIONS: dict[str, str] = {
    "paper_comparison": "The paper's numbers beside ours, with our 95% intervals.",
    "participants": "Per-participant rounds, placebo accuracy, accuracy and whether kept.",
    "placebo_distribution": "Participants per placebo score.",
    "votes_per_image": "Images per number of votes.",
    "agreement_matrix": "Human majority vote vs algorithm correctness on images with enough votes.",
    "per_image": "Per voted image: truth, algorithm, majority vote, Dawid-Skene label, agreement.",
    "proportions": "Accuracies with Wilson 95% intervals.",
    "participant_intervals": "Participant-clustered intervals (bootstrap or jackknife).",
    "human_confusion": "Human votes: true generator vs chosen generator.",
    "algorithm_confusion": "Algorithm: true generator vs attributed generator.",
    "algorithm_accuracy": "Algorithm accuracy per true generator, Wilson 95% intervals.",
    "accuracy_vs_attempts": "Algorithm accuracy using the first k attempts.",
    "generator_difficulty": "Human accuracy per true generator: raw (Wilson) and GEE (participant clusters).",
    "dawid_skene": "Dawid-Skene vs majority vote.",
    "response_times": "Response times by correctness.",
    "coverage": "Extra votes / participants needed for every target to reach min_votes votes.",
    "robustness": "Per condition: algorithm and human accuracy with intervals, agreement, paired test vs clean.",
}


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser("python -m analysis", __doc__.split("\n\n")[0])
    sub = add_commands(parser)
    rep = sub.add_parser("report", help="summary.json, report.html and every table from a bundle and responses",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    rep.add_argument("--bundle", required=True, type=Path, help="stimulus bundle directory")
    rep.add_argument("--responses", required=True, type=Path, help="responses export (CSV)")
    rep.add_argument("--out", required=True, type=Path, help="output directory (replaced as a whole)")
    rep.add_argument("--placebo-threshold", type=rules.fraction_type(), default=0.80,
                     help="keep a participant only if placebo accuracy is above this")
    rep.add_argument("--min-votes", type=rules.int_at_least_type(1), default=3,
                     help="votes an image needs to enter the human/algorithm agreement analysis")
    rep.add_argument("--bootstrap", type=rules.int_at_least_type(0), default=2000,
                     help="participant bootstrap resamples (0: none)")
    rep.add_argument("--seed", type=rules.int_at_least_type(0), default=0, help="bootstrap seed")
    rep.add_argument("--allocation", choices=ALLOCATIONS, default=None,
                     help="the session's allocation; dynamic: the agreement analysis uses images with a settled "
                          "majority of --min-votes (default: not stated, analysed as fixed k)")
    from analysis.plan import add_plan_parser
    add_plan_parser(sub)
    rep.add_argument("--trials", type=Path, default=None,
                     help="the study's trial export (study_app: custom_export_trials): its practice targets, never "
                          "in a real round, are left out of votes per image and coverage")
    return parser


def _check_out(out: Path, bundle: Path, responses: Path) -> None:
    """DIR may be new, empty, or an earlier report; it must not contain the inputs."""
    o = out.resolve()
    for name, path in (("bundle", bundle), ("responses", responses)):
        p = path.resolve()
        if p == o or o in p.parents:
            raise ContractError(out, f"--out would replace the {name} ({path}); choose another output directory")
        if name == "bundle" and p in o.parents:
            raise ContractError(out, "--out must not be inside the bundle; choose another output directory")
    if out.exists():
        if not out.is_dir():
            raise ContractError(out, "--out exists and is not a directory; choose another output directory")
        if any(out.iterdir()) and not (out / SUMMARY_FILE).is_file():
            raise ContractError(out, "--out exists, is not empty and holds no earlier report (no summary.json); "
                                     "choose another output directory or remove it")


def practice_targets(trials: Path) -> set[str]:
    """Targets shown only in practice rounds, from the trial export (columns ``phase``, ``target_id``)."""
    import csv

    from contracts.csvfile import read_text
    practice: set[str] = set()
    real: set[str] = set()
    rows = csv.DictReader(read_text(trials, missing="no such trial export").splitlines())
    if not {"phase", "target_id"} <= set(rows.fieldnames or ()):
        raise ContractError(trials, "not a trial export: needs the columns phase and target_id "
                                    "(admin -> Data -> study_app: custom_export_trials)")
    for row in rows:
        (practice if row["phase"] == "practice" else real).add(row["target_id"])
    return practice - real


def write_report(out: Path, *, bundle: Path, responses: Path, placebo_threshold: float, min_votes: int,
                 n_bootstrap: int, seed: int, allocation: str | None = None,
                 trials: Path | None = None) -> dict[str, float]:
    """Load, analyse and write DIR atomically. Returns seconds per stage."""
    from analysis import figures as fig
    from analysis.load import load
    from analysis.report import render_html
    from analysis.robustness_report import FIGURE as ROBUSTNESS_FIGURE
    from analysis.robustness_report import has_conditions
    from analysis.pipeline import analyze
    from analysis.tables import csv_table, latex_table

    times: dict[str, float] = {}
    t0 = time.perf_counter()
    _check_out(out, bundle, responses)
    study = load(bundle, responses)
    times["load"] = time.perf_counter() - t0
    t = time.perf_counter()
    result = analyze(study, placebo_threshold=placebo_threshold, min_votes=min_votes, n_bootstrap=n_bootstrap,
                     seed=seed, allocation=allocation,
                     practice_targets=practice_targets(trials) if trials else ())
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    times["analyze"] = time.perf_counter() - t
    t = time.perf_counter()
    gens = list(result.generators)
    pngs = {
        "participant_accuracy": fig.participant_accuracy(result.tables["participants"],
                                                         placebo_threshold=placebo_threshold),
        "votes_per_image": fig.votes_per_image(result.tables["votes_per_image"], min_votes=min_votes),
        "agreement_matrix": fig.agreement_matrix(result.summary["agreement_matrix"]),
        "algorithm_confusion": fig.confusion_matrix(result.tables["algorithm_confusion"], gens,
                                                    title="algorithm (relaxed attribution)",
                                                    xlabel="attributed generator"),
        "human_confusion": fig.confusion_matrix(result.tables["human_confusion"], gens,
                                                title="human votes (kept participants)", xlabel="chosen generator"),
        "accuracy_vs_attempts": fig.accuracy_vs_attempts(result.tables["accuracy_vs_attempts"]),
        "response_time": fig.response_time(_votes(study, result)),
    }
    if has_conditions(result):
        pngs[ROBUSTNESS_FIGURE] = fig.accuracy_by_condition(result.tables["robustness"])
    times["figures"] = time.perf_counter() - t
    t = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        (tmp / TABLES_DIR).mkdir()
        (tmp / FIGURES_DIR).mkdir()
        files: dict[str, str] = {}
        for name, frame in result.tables.items():
            (tmp / TABLES_DIR / f"{name}.csv").write_text(csv_table(frame), encoding="utf-8")
            (tmp / TABLES_DIR / f"{name}.tex").write_text(
                latex_table(frame, caption=CAPTIONS.get(name, name), label=f"tab:{name}"), encoding="utf-8")
            files[name] = f"{TABLES_DIR}/{name}.csv"
        for name, png in pngs.items():
            (tmp / FIGURES_DIR / f"{name}.png").write_bytes(png)
        (tmp / REPORT_FILE).write_text(render_html(result, pngs, table_files=files, trials_given=trials is not None),
                                       encoding="utf-8")
        write_summary(tmp / SUMMARY_FILE, result.summary)
        os.chmod(tmp, 0o755)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    times["write"] = time.perf_counter() - t
    return times


def _votes(study: StudyTables, result: Analysis) -> pd.DataFrame:
    from analysis.votes import valid_votes

    return valid_votes(study.responses, result.tables["participants"])


def _replace_dir(new: Path, out: Path) -> None:
    """Move ``new`` to ``out``; an existing ``out`` is moved aside first and removed only after the swap."""
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        os.rmdir(old)
        os.rename(out, old)
        try:
            os.rename(new, out)
        except BaseException:
            os.rename(old, out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(new, out)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "report":
        try:
            times = write_report(args.out, bundle=args.bundle, responses=args.responses,
                                 placebo_threshold=args.placebo_threshold, min_votes=args.min_votes,
                                 n_bootstrap=args.bootstrap, seed=args.seed, allocation=args.allocation,
                                 trials=args.trials)
        except ContractError as e:
            return report(e, EXIT_BAD_INPUT)
        except OSError as e:
            return report(f"cannot write {args.out}: {e}", 1)
        total = sum(times.values())
        print(f"wrote {args.out}/{SUMMARY_FILE}, {REPORT_FILE}, {TABLES_DIR}/ and {FIGURES_DIR}/ in {total:.2f} s "
              f"({', '.join(f'{k} {v:.2f}' for k, v in times.items())})")
        return 0
    if args.command == "plan":
        from analysis.plan import run_plan
        return run_plan(args)
    raise AssertionError(args.command)
