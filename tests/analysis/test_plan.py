"""The planner (``python -m analysis plan``) and the analysis of a dynamic study (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis import load
from analysis.cli import main
from analysis.plan import Crowd, closed_form_participants, simulate_session
from analysis.pipeline import analyze
from tests.analysis.builders import build_bundle, vote


@pytest.mark.parametrize("rounds, placebo", [(30, 0.05), (24, 0.1)])
def test_balanced_simulation_matches_the_closed_form_count(rounds: int, placebo: float) -> None:
    """Without dropouts, one participant at a time, balanced needs ceil(k * targets / answers) participants
    (placebo rounds are random per participant, the closed form takes their expected number rounded up)."""
    crowd = Crowd(dropout=0.0, careless=0.0, placebo=placebo)
    closed = closed_form_participants(n_targets=150, k=3, rounds=rounds, placebo=placebo)
    run = simulate_session(n_targets=150, k=3, rounds=rounds, allocation="balanced", crowd=crowd, seed=1,
                           concurrent=1)
    assert run.finished and run.dropouts == 0
    assert abs(run.completed - closed) <= 1, (run.completed, closed)
    concurrent = simulate_session(n_targets=150, k=3, rounds=rounds, allocation="balanced", crowd=crowd, seed=1,
                                  concurrent=5)
    assert closed - 1 <= concurrent.completed <= closed + 5  # those in the study when it is done finish and are paid


def test_plan_prints_every_number(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", "--targets", "90", "--votes-per-target", "3", "--rounds", "30", "--allocation", "dynamic",
                 "--replications", "1", "--fee", "3.5"])
    out, err = capsys.readouterr()
    assert code == 0, err
    for text in ("participants needed", "paid rounds", "expected cost", "label agreement", "mean participant accuracy",
                 "closed form, balanced without dropouts: ceil(k * targets / answers per participant) = 10"):
        assert text in out, out
    assert "simulating dynamic studies" in err  # the progress bar


@pytest.mark.parametrize("argv, message", [
    (["--targets", "0"], "--targets: must be >= 2"),
    (["--allocation", "greedy"], "invalid choice: 'greedy'"),
    (["--skill", "1.5"], "--skill: must be in [0, 1]"),
    (["--fee", "-1"], "--fee: must be a non-negative amount"),
    (["--rounds", "500"], "--rounds, --targets: 500 rounds need at least that many targets"),
])
def test_plan_bad_input_is_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = {"--targets": "60", "--votes-per-target": "3", "--rounds": "20"}
    args = ["plan"]
    for key, value in base.items():
        if key not in argv:
            args += [key, value]
    try:
        code = main(args + argv)
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_dynamic_study_uses_the_settled_majority(tmp_path: Path) -> None:
    """t0: two agreeing votes (settled of 3); t1: 1-1 (open); t2: three votes; t3: one vote. Everyone passes
    their placebo round, so all three participants are kept."""
    targets = {"t0": ("dcgan", "dcgan"), "t1": ("progan", "progan"), "t2": ("stylegan", "progan"),
               "t3": ("dcgan", "dcgan")}
    bundle = build_bundle(tmp_path / "b", targets)
    truth = {t: v[0] for t, v in targets.items()}
    rows = []
    for code, answers in {"a": [("t0", "dcgan"), ("t1", "progan"), ("t2", "progan"), ("t3", "dcgan")],
                          "b": [("t0", "dcgan"), ("t1", "stylegan"), ("t2", "stylegan")],
                          "c": [("t2", "stylegan")]}.items():
        for r, (t, g) in enumerate(answers, 1):
            rows.append(vote(code, r, t, g, truth=truth[t]))
        rows.append(vote(code, len(answers) + 1, "t3", "PLACEBO", truth="dcgan", placebo=True))
    study = load(bundle, rows)
    fixed = analyze(study, n_bootstrap=0, allocation="balanced").summary
    dyn = analyze(study, n_bootstrap=0, allocation="dynamic").summary
    unstated = analyze(study, n_bootstrap=0).summary
    assert fixed["images_with_min_votes"] == unstated["images_with_min_votes"] == 1      # t2 only
    assert dyn["images_with_min_votes"] == 2                                             # t0 (2 of 3) and t2
    assert fixed["settled_targets"] == dyn["settled_targets"] == 2
    assert sum(dyn["agreement_matrix"].values()) == 2 and dyn["label_agreement"] == 0.5  # t0 agrees, t2 not
    assert dyn["inputs"]["allocation"] == "dynamic" and "settled" in dyn["policy"]["allocation"]
    assert unstated["inputs"]["allocation"] is None
    with pytest.raises(ValueError, match="allocation must be one of"):
        analyze(study, n_bootstrap=0, allocation="greedy")


def test_report_says_which_allocation_ran(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from analysis.simulate import simulate_study, write_study

    bundle, responses = write_study(tmp_path / "in", simulate_study(n_targets=20, n_participants=8, rounds=15,
                                                                    seed=2))
    code = main(["report", "--bundle", str(bundle), "--responses", str(responses), "--out", str(tmp_path / "out"),
                 "--bootstrap", "0", "--allocation", "dynamic"])
    assert code == 0, capsys.readouterr().err
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Allocation: <strong>dynamic</strong>" in html and "settled" in html


def test_plan_answers_for_random_allocation(capsys: pytest.CaptureFixture[str]) -> None:
    """``--allocation random`` (the paper's): every target still gets k votes, but the random draw wastes rounds on
    targets that already have them, so it needs more participants than the balanced closed form."""
    code = main(["plan", "--targets", "30", "--votes-per-target", "3", "--rounds", "10", "--allocation", "random",
                 "--replications", "1", "--dropout", "0"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("plan: 30 targets, k = 3 votes, 10 rounds, random allocation (1 simulated studies, seed 0)")
    assert "simulating random studies" in err and "WARNING" not in out  # every target done within the cap
    needed = float(out.split("participants needed (completing):")[1].split()[0])
    closed = closed_form_participants(n_targets=30, k=3, rounds=10, placebo=0.05)
    assert "closed form, balanced without dropouts: ceil(k * targets / answers per participant) = 10" in out
    assert closed == 10 and needed > closed
    assert "targets in the agreement analysis:" in out and "(understated under dynamic" not in out


def test_plan_says_n_a_for_a_degenerate_interval(capsys: pytest.CaptureFixture[str]) -> None:
    """On a tiny study the participant jackknife SE of label agreement is exactly 0 (no participant's removal
    changes it): the planner says n/a with the reason instead of a width of 0.0 points."""
    from analysis.plan import plan

    p = plan(n_targets=4, k=3, rounds=4, allocation="random", replications=1, seed=0, progress=False)
    assert p["width_label_agreement"] is None and p["width_label_agreement_degenerate"] == 1
    code = main(["plan", "--targets", "4", "--votes-per-target", "3", "--rounds", "4", "--allocation", "random",
                 "--replications", "1"])
    out = capsys.readouterr().out
    assert code == 0
    line = next(x for x in out.splitlines() if "label agreement (participant jackknife)" in x)
    assert "n/a (degenerate in the simulated study: jackknife SE exactly 0" in line and "0.0 points" not in line
    assert "0.0 points" not in out


def test_unstated_allocation_warns_when_most_images_stop_at_two_votes(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The exports do not carry the session's allocation, so the analysis infers nothing silently: when it is not
    stated and most voted images stop at 2 agreeing votes of 3 (what dynamic allocation leaves), the report and the
    command line warn and suggest --allocation dynamic; stated, or a fixed-k pattern, no warning."""
    from contracts.responses import write_responses

    targets = {f"t{i}": ("dcgan", "dcgan") for i in range(4)}
    bundle = build_bundle(tmp_path / "b", targets)
    rows = []
    for who, answers in {"a": ["t0", "t1", "t2", "t3"], "b": ["t0", "t1", "t2", "t3"], "c": ["t3"]}.items():
        for r, t in enumerate(answers, 1):
            rows.append(vote(who, r, t, "dcgan", truth="dcgan"))
        rows.append(vote(who, len(answers) + 1, "t0", "PLACEBO", truth="dcgan", placebo=True))
    study = load(bundle, rows)
    unstated = analyze(study, n_bootstrap=0)
    assert len(unstated.warnings) == 1
    w = unstated.warnings[0]
    assert "3 of 4 voted images (75%) stop before 3 votes" in w and "--allocation dynamic" in w
    assert "WARNING: " + w in unstated.summary["policy"]["allocation"]
    assert unstated.summary["images_with_min_votes"] == 1                     # fixed k: only t3 enters
    for stated in ("dynamic", "balanced"):
        assert analyze(study, n_bootstrap=0, allocation=stated).warnings == ()

    # the fixed-k pattern (c also votes on t0..t2: every image has 3 votes) gives no warning
    fixed = rows + [vote("c", r, t, "dcgan", truth="dcgan") for r, t in ((3, "t0"), (4, "t1"), (5, "t2"))]
    assert analyze(load(bundle, fixed), n_bootstrap=0).warnings == ()
    # nor does 2 of 4 (half, not most)
    half = rows + [vote("c", r, t, "dcgan", truth="dcgan") for r, t in ((3, "t0"), (4, "t1"))]
    assert analyze(load(bundle, half), n_bootstrap=0).warnings == ()

    write_responses(tmp_path / "responses.csv", rows)
    code = main(["report", "--bundle", str(tmp_path / "b"), "--responses", str(tmp_path / "responses.csv"),
                 "--out", str(tmp_path / "out"), "--bootstrap", "0"])
    err = capsys.readouterr().err
    assert code == 0 and f"warning: {w}" in err
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Allocation: <strong>not stated</strong>" in html and "WARNING: allocation not stated" in html
