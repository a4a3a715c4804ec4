"""Analysis at paper scale, end to end from files: 122 participants x 120 rounds, 6,000 targets, 3 generators x 3
attempts (a simulated study written through ``contracts``). Goal: the paper's numbers in < 3 s.

    .venv/bin/python bench/analysis_report.py [--bootstrap 2000] [--repeats 3] [--workdir DIR] [--compare-name-check]

Prints, measured side by side in this one run (best of ``--repeats``):

- each stage of ``python -m analysis report`` in-process: reading the files through ``contracts`` (the bundle's
  validation included), the paper's numbers, the participant bootstrap + jackknife, the GEE, Dawid--Skene, the
  figures, writing the tables / HTML / summary;
- the whole CLI as a fresh process (interpreter start and imports included);
- with ``--coverage N``: how often the label-agreement intervals cover, over N simulated studies;
- two ratios: the vectorised bootstrap against a plain per-resample recomputation (pandas majority vote per
  resample), and, with ``--compare-name-check``, the bundle's opaque-name check before and after it was made linear.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis import figures as fig  # noqa: E402
from analysis.agreement import agreement_matrix, agreement_table, label_agreement  # noqa: E402
from analysis.algorithm import accuracy_vs_attempts, confusion  # noqa: E402
from analysis.bootstrap import participant_intervals  # noqa: E402
from analysis.cli import write_report  # noqa: E402
from contracts.cli import OneLineParser  # noqa: E402
from analysis.load import load  # noqa: E402
from analysis.models import dawid_skene, generator_difficulty  # noqa: E402
from analysis.participants import accuracy_summary, participant_table  # noqa: E402
from analysis.simulate import simulate_study, write_study  # noqa: E402
from analysis.votes import majority_vote, valid_votes, vote_summary  # noqa: E402


def best_of(repeats: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def paper_numbers(study: Any) -> dict[str, Any]:
    p = participant_table(study.responses, placebo_threshold=0.8)
    v = valid_votes(study.responses, p)
    m = majority_vote(v, study.generators)
    t = agreement_table(m, study.targets, min_votes=3)
    confusion(study.targets["true_generator"], study.targets["algo_generator"], study.generators)
    accuracy_vs_attempts(study.reconstructions, study.targets, attempts=study.attempts)
    return {**accuracy_summary(p), **vote_summary(m, min_votes=3), "agreement_matrix": agreement_matrix(t),
            "label_agreement": label_agreement(t)}


def plain_bootstrap(study: Any, n: int, seed: int) -> list[float]:
    """The obvious implementation: per resample, concatenate the drawn participants' votes and redo the majority."""
    p = participant_table(study.responses, placebo_threshold=0.8)
    v = valid_votes(study.responses, p)
    kept = list(p.loc[p["valid"], "participant_code"])
    by_p = {c: g for c, g in v.groupby("participant_code")}
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        draw = rng.integers(0, len(kept), len(kept))
        frames = [by_p[kept[i]].assign(participant_code=f"{kept[i]}#{j}") for j, i in enumerate(draw)
                  if kept[i] in by_p]
        m = majority_vote(pd.concat(frames, ignore_index=True), study.generators)
        t = agreement_table(m, study.targets, min_votes=3)
        out.append(float(t["labels_agree"].mean()))
    return out


def old_name_check(bundle_dir: Path) -> float:
    """The opaque-name check as first written (every word against every name), timed on the same bundle."""
    from contracts.bundle import read_bundle

    b = read_bundle(bundle_dir)
    words = {g.id.lower() for g in b.manifest.generators} | {g.label.lower() for g in b.manifest.generators}
    words |= {t.target_id.lower() for t in b.targets}
    t = time.perf_counter()
    for rows in (b.targets, b.reconstructions):
        for row in rows:
            name = Path(row.image).name.lower()
            if sorted(w for w in words if len(w) >= 3 and w in name):
                raise AssertionError("leak")
    return time.perf_counter() - t


def interval_coverage(n_studies: int, n_resamples: int) -> None:
    """How well do the label-agreement intervals cover? Simulate many studies of one design, compare each study's
    interval with the mean estimate over all of them (the spread of estimates across studies is the truth here)."""
    from contracts.bundle import Bundle
    from analysis.statistics import wilson_interval
    from analysis.pipeline import analyze

    rows = []
    for seed in range(n_studies):
        sim = simulate_study(n_targets=600, n_participants=60, rounds=60, careless=0.05, dropout=0.2,
                             skill_range=(0.6, 0.95), seed=1000 + seed)
        bundle = Bundle(Path("simulated"), sim.manifest, sim.targets, sim.reconstructions)
        s = analyze(load(bundle, list(sim.responses)), n_bootstrap=n_resamples, seed=seed).summary
        n = s["images_with_min_votes"]
        r = {x["statistic"]: x for x in s["beyond_paper"]["participant_intervals"]}["label_agreement"]
        rows.append((s["label_agreement"], *wilson_interval(round(s["label_agreement"] * n), n), r["ci_low"],
                     r["ci_high"], r["bootstrap_low"], r["bootstrap_high"]))
    a = np.array(rows, dtype=float)
    mu = a[:, 0].mean()
    print(f"\nlabel agreement over {n_studies} simulated studies (600 targets, 60 participants x 60 rounds): "
          f"mean {mu:.4f}, sd across studies {a[:, 0].std(ddof=1):.4f}")
    for name, lo, hi in (("jackknife (reported)", 3, 4), ("Wilson over images", 1, 2),
                         ("participant bootstrap percentile", 5, 6)):
        cover = np.mean((a[:, lo] <= mu) & (mu <= a[:, hi]))
        print(f"  {name:<34} coverage {100 * cover:5.1f}%  mean half-width {np.mean(a[:, hi] - a[:, lo]) / 2:.4f} "
              f"(1.96 sd = {1.96 * a[:, 0].std(ddof=1):.4f})")


@dataclass(frozen=True)
class StudyFiles:
    """The simulated study on disk: the bundle folder and the responses file, in ``work``."""
    work: Path

    @property
    def bundle_dir(self) -> Path:
        return self.work / "bundle"

    @property
    def responses(self) -> Path:
        return self.work / "responses.csv"


@dataclass(frozen=True)
class Loaded:
    """The study read from its files, its paper summary, and the participant and valid-vote tables."""
    study: Any
    summary: dict[str, Any]
    participants: pd.DataFrame
    votes: pd.DataFrame


@dataclass
class Timings:
    """Every timed step (label, best seconds) in the order printed, and the ones the goal line quotes."""
    rows: list[tuple[str, float]] = field(default_factory=list)
    load: float = 0.0
    paper: float = 0.0
    report: float = 0.0
    report_cli: float = 0.0
    paper_cli: float = 0.0

    def add(self, label: str, seconds: float) -> float:
        self.rows.append((label, seconds))
        return seconds


def parse_args() -> argparse.Namespace:
    ap = OneLineParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None, help="keep/reuse the simulated study here")
    ap.add_argument("--compare-name-check", action="store_true", help="also time the old quadratic name check")
    ap.add_argument("--coverage", type=int, default=0, metavar="N",
                    help="also check the label-agreement intervals' coverage over N simulated studies")
    return ap.parse_args()


def ensure_study(*, work: Path) -> StudyFiles:
    """The paper-scale simulated study in ``work``, written there first unless already there (not timed)."""
    files = StudyFiles(work)
    if not (files.bundle_dir / "manifest.json").is_file() or not files.responses.is_file():
        t = time.perf_counter()
        sim = simulate_study(n_targets=6000, n_participants=122, rounds=120, attempts=3, placebo_rate=0.05,
                             careless=0.09, dropout=0.3, seed=0)
        write_study(work, sim)
        print(f"wrote the simulated study to {work} in {time.perf_counter() - t:.1f} s (not timed below)")
    return files


def time_in_process(*, files: StudyFiles, repeats: int, n_bootstrap: int, timings: Timings) -> Loaded:
    """Each stage of the report in this process, best of ``repeats``; writes the report to ``work/report``."""
    r = repeats
    t_load, study = best_of(r, lambda: load(files.bundle_dir, files.responses))
    timings.load = timings.add("read files through contracts + tidy frames", t_load)
    t_paper, summary = best_of(r, lambda: paper_numbers(study))
    timings.paper = timings.add("paper's numbers (summary.json contract keys, Fig. 4, Fig. 5)", t_paper)
    p = participant_table(study.responses, placebo_threshold=0.8)
    v = valid_votes(study.responses, p)
    t_boot, _ = best_of(r, lambda: participant_intervals(p, v, study.targets, study.generators, min_votes=3,
                                                          n_resamples=n_bootstrap, seed=0))
    timings.add(f"participant bootstrap ({n_bootstrap}) + jackknife", t_boot)
    t_gee, _ = best_of(r, lambda: generator_difficulty(v, study.generators))
    timings.add("GEE per generator (participant clusters)", t_gee)
    t_ds, _ = best_of(r, lambda: dawid_skene(v, study.targets, min_votes=3))
    timings.add("Dawid-Skene (crowd-kit)", t_ds)
    t_fig, _ = best_of(r, lambda: fig.participant_accuracy(p, placebo_threshold=0.8))
    timings.add("one figure (participant accuracy)", t_fig)
    out = files.work / "report"
    t_in, stages = best_of(r, lambda: write_report(out, bundle=files.bundle_dir, responses=files.responses,
                                                   placebo_threshold=0.8, min_votes=3,
                                                   n_bootstrap=n_bootstrap, seed=0))
    for k, val in stages.items():
        timings.add(f"  report stage: {k}", val)
    timings.report = timings.add("whole report, in-process (all stages)", t_in)
    return Loaded(study=study, summary=summary, participants=p, votes=v)


def time_fresh_processes(*, files: StudyFiles, repeats: int, n_bootstrap: int, timings: Timings) -> None:
    """The whole CLI, the paper's numbers alone, and the imports alone, each as a fresh process."""
    r = repeats
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    bundle_dir, responses = files.bundle_dir, files.responses

    def cli() -> None:
        subprocess.run([sys.executable, "-m", "analysis", "report", "--bundle", str(bundle_dir), "--responses",
                        str(responses), "--out", str(files.work / "report-cli"), "--bootstrap", str(n_bootstrap)],
                       cwd=ROOT, check=True, capture_output=True, env=env)

    t_cli, _ = best_of(r, cli)
    timings.report_cli = timings.add("whole report, `python -m analysis report` (fresh process)", t_cli)
    core_script = (
        "import sys; from analysis.load import load; from analysis.participants import participant_table, "
        "accuracy_summary; from analysis.votes import valid_votes, majority_vote, vote_summary; "
        "from analysis.agreement import agreement_table, agreement_matrix, label_agreement; "
        "s = load(sys.argv[1], sys.argv[2]); p = participant_table(s.responses, placebo_threshold=0.8); "
        "m = majority_vote(valid_votes(s.responses, p), s.generators); "
        "t = agreement_table(m, s.targets, min_votes=3); "
        "print(accuracy_summary(p), vote_summary(m, min_votes=3), agreement_matrix(t), label_agreement(t))")
    t_core, _ = best_of(r, lambda: subprocess.run(
        [sys.executable, "-c", core_script, str(bundle_dir), str(responses)], cwd=ROOT, check=True,
        capture_output=True, env=env))
    timings.paper_cli = timings.add("paper's numbers from files as a fresh process (imports included)", t_core)
    t_imp, _ = best_of(r, lambda: subprocess.run(
        [sys.executable, "-c", "import analysis.cli, analysis.pipeline, analysis.figures, analysis.report, "
         "crowdkit.aggregation, statsmodels.genmod.generalized_estimating_equations"],
        cwd=ROOT, check=True, env=env))
    timings.add("interpreter start + every import the full report needs", t_imp)


def time_bootstrap_per_resample(*, loaded: Loaded, n_plain: int = 20) -> tuple[float, float]:
    """Seconds per resample: the plain per-resample bootstrap (``n_plain`` resamples) and the vectorised one
    (ten times as many, jackknife included)."""
    study, p, v = loaded.study, loaded.participants, loaded.votes
    t_plain, _ = best_of(1, lambda: plain_bootstrap(study, n_plain, 0))
    t_vec, _ = best_of(1, lambda: participant_intervals(p, v, study.targets, study.generators, min_votes=3,
                                                         n_resamples=n_plain * 10, seed=0))
    return t_plain / n_plain, t_vec / (n_plain * 10)


def report_scale(loaded: Loaded) -> None:
    study, summary = loaded.study, loaded.summary
    print(f"\npaper scale: {len(study.responses)} answers, {study.responses['participant_code'].nunique()} "
          f"participants, {len(study.targets)} targets, {len(study.reconstructions)} reconstructions; "
          f"{summary['participants_valid']} kept, {summary['votes_total']} votes, "
          f"{summary['images_with_min_votes']} images with >= 3 votes, label agreement "
          f"{summary['label_agreement']:.4f}\n")


def report_timings(timings: Timings) -> None:
    width = max(len(k) for k, _ in timings.rows)
    for k, val in timings.rows:
        print(f"{k:<{width}}  {val:7.3f} s")
    t_core, t_cli = timings.paper_cli, timings.report_cli
    print(f"\ngoal < 3 s for the paper's numbers end to end from files: {timings.load + timings.paper:.2f} s "
          f"in-process, {t_core:.2f} s as a fresh process ({'met' if t_core < 3 else 'NOT met'}); the whole report "
          f"with bootstrap, GEE, Dawid-Skene and figures: {timings.report:.2f} s in-process, {t_cli:.2f} s as a "
          f"fresh process ({'met' if t_cli < 3 else 'NOT met'})")


def report_bootstrap_ratio(*, per_plain: float, per_vec: float) -> None:
    print(f"ratio: plain per-resample bootstrap {1000 * per_plain:.1f} ms/resample vs vectorised "
          f"{1000 * per_vec:.2f} ms/resample (jackknife included) = {per_plain / per_vec:.0f}x")


def compare_name_check(*, bundle_dir: Path, repeats: int) -> None:
    """Times the bundle's opaque-name check as it is (best of ``repeats``) and as first written; prints the ratio."""
    from contracts.bundle import _check_opaque_names, read_bundle

    b = read_bundle(bundle_dir)
    t_new, _ = best_of(repeats, lambda: _check_opaque_names(b.root, b.targets, b.reconstructions, b.manifest))
    t_old = old_name_check(bundle_dir)
    print(f"ratio: bundle opaque-name check, quadratic {t_old:.2f} s vs linear {t_new:.3f} s = "
          f"{t_old / t_new:.0f}x")


def main() -> int:
    args = parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-analysis-"))
    try:
        files = ensure_study(work=work)
        timings = Timings()
        loaded = time_in_process(files=files, repeats=args.repeats, n_bootstrap=args.bootstrap, timings=timings)
        time_fresh_processes(files=files, repeats=args.repeats, n_bootstrap=args.bootstrap, timings=timings)
        per_plain, per_vec = time_bootstrap_per_resample(loaded=loaded)
        report_scale(loaded)
        report_timings(timings)
        report_bootstrap_ratio(per_plain=per_plain, per_vec=per_vec)
        if args.compare_name_check:
            compare_name_check(bundle_dir=files.bundle_dir, repeats=args.repeats)
        if args.coverage:
            interval_coverage(args.coverage, 200)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
