"""A version-2 bundle (docs/contracts.md, conditions addendum) under oTree itself: ``otree test`` bots play the app's real
serving code; the export and the bots' own checks (study_app/tests.py: leak check with condition names and source
ids, placebo copies = the target as shown, practice clean, no source twice, conditions spread within one) hold the
study rules; the export goes through ``python -m analysis report`` and ``by_condition`` equals a plain computation.
All of it twice: with perturbations and with attacks (issue 13: attack conditions reach the study and the analysis;
the names as the pipeline's registry writes them, manifest kind ``attack``).
Also the pure constraint functions (study_app/conditions.py) and session-creation errors for conditions."""

from __future__ import annotations

import csv
import json
import random
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from analysis.cli import main as analysis_main
from contracts.bundle import read_bundle
from contracts.responses import check_against_bundle, read_responses
from contracts.summary import read_summary
from study_app import allocation, conditions
from tests.helpers import make_bundle
from tests.helpers.plain_summary import plain_by_condition
from tests.study.test_otree import _env, _otree, project  # noqa: F401 -- the fixture is used by name

CONDITIONS = ("clean", "jpeg:q=50", "mirror")
# canonical names (tests/pipeline/test_attacks_conditions.py: the registry writes frame's parameters in this order)
ATTACK_CONDITIONS = ("clean", "fgsm-image:eps=0.03", "evade:l2=1", "frame:l2=4,target=stylegan")
KINDS = {"clean": "clean", "jpeg:q=50": "perturbation", "mirror": "perturbation", "fgsm-image:eps=0.03": "attack",
         "evade:l2=1": "attack", "frame:l2=4,target=stylegan": "attack"}
SOURCES = 12
ROUNDS = 10           # + 2 practice rounds = every source once per participant: the tightest the rules allow
PARTICIPANTS = 4


def _cond_env(bundle: Path) -> dict[str, str]:
    return {**_env(STUDY_BUNDLE=str(bundle)), "STUDY_ROUNDS": str(ROUNDS)}


@pytest.fixture(scope="module", params=[CONDITIONS, ATTACK_CONDITIONS], ids=["perturbations", "attacks"])
def bot_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, project: Path):  # noqa: F811
    conds = request.param
    tmp = tmp_path_factory.mktemp("cond-bots")
    # the algorithm misattributes two targets of the third condition (k2) and one of the last
    wrong = ("t001k2", "t004k2", f"t002k{len(conds) - 1}")
    bundle = make_bundle(tmp, n_targets=SOURCES, conditions=conds, algorithm_wrong=wrong)
    export = tmp / "export"
    proc = _otree(project, "test", "attribution_study", str(PARTICIPANTS), "--export", str(export),
                  env=_cond_env(bundle.root))
    return bundle.root, export, proc, conds


def test_bots_play_a_version_2_bundle(bot_run) -> None:
    _, _, proc, _ = bot_run
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and out.count("Bots completed session") == 2, out[-3000:]


def test_export_keeps_the_condition_rules(bot_run) -> None:
    bundle_root, export, proc, conds = bot_run
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    bundle = read_bundle(bundle_root)
    assert bundle.manifest.schema_version == 2
    manifest = json.loads((bundle_root / "manifest.json").read_text())
    assert [(c["name"], c["kind"]) for c in manifest["conditions"]] == [(c, KINDS[c]) for c in conds]
    path = export / "study_app_custom.csv"
    assert path.read_text().splitlines()[0].endswith(",condition")
    responses = read_responses(path)
    check_against_bundle(responses, bundle, path)       # every row's condition is the bundle's for its target
    assert len(responses) == 2 * PARTICIPANTS * ROUNDS
    target = {t.target_id: t for t in bundle.targets}
    per_participant = defaultdict(list)
    for r in responses:
        per_participant[r.participant_code].append(target[r.target_id])
    for code, seen in per_participant.items():
        sources = [t.source_target for t in seen]
        assert len(set(sources)) == len(sources), f"{code} saw two conditions of one source"
        counts = Counter(t.condition for t in seen)
        assert set(counts) == set(conds) and max(counts.values()) - min(counts.values()) <= 1, counts
    assert {r.condition for r in responses} == set(conds)
    # the export's own column, as written (not only as contracts reads it): every condition name, verbatim
    with path.open(newline="") as f:
        column = [row["condition"] for row in csv.DictReader(f)]
    assert set(column) == set(conds) and column == [r.condition for r in responses]


@pytest.mark.parametrize("min_votes", [1])
def test_report_by_condition_matches_plain_computation(bot_run, tmp_path: Path, min_votes: int,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    bundle_root, export, _, conds = bot_run
    responses = export / "study_app_custom.csv"
    out = tmp_path / "report"
    code = analysis_main(["report", "--bundle", str(bundle_root), "--responses", str(responses), "--out", str(out),
                          "--min-votes", str(min_votes), "--bootstrap", "50"])
    assert code == 0, capsys.readouterr().err
    got = read_summary(out / "summary.json")["by_condition"]
    expected = plain_by_condition(bundle_root, responses, threshold=0.8, min_votes=min_votes)
    assert sum(v["votes_total"] for v in expected.values()) >= PARTICIPANTS * (ROUNDS - 3)  # honest bots kept
    assert list(got) == list(conds)
    assert got[conds[2]]["algorithm_accuracy"] < 1 and got[conds[0]]["algorithm_accuracy"] == 1
    for cond, values in expected.items():
        for key, value in values.items():
            assert got[cond][key] == (pytest.approx(value, rel=1e-12) if isinstance(value, float) else value), \
                (cond, key)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Robustness: people vs algorithm" in html


# ----------------------------------------------------------------------------------- the pure constraint functions


def test_same_source_and_balance_exclusions() -> None:
    # 3 sources x 2 conditions: targets 0..5, source = i // 2, condition = i % 2
    source_of, condition_of = [i // 2 for i in range(6)], [i % 2 for i in range(6)]
    members = [[0, 1], [2, 3], [4, 5]]
    assert conditions.same_source(source_of, members, [0, 5]) == {0, 1, 4, 5}
    assert conditions.condition_counts(condition_of, 2, [0, 2, 5]) == [2, 1]
    # condition 0 served twice, condition 1 once: only condition-1 targets stay
    assert conditions.off_balance(condition_of, [2, 1], [1, 2, 3]) == {2}
    # a condition with nothing available left is skipped, never blocks a round
    assert conditions.off_balance(condition_of, [0, 5], [1, 3]) == set()
    excluded = conditions.main_exclusions(source_of=source_of, members=members, condition_of=condition_of,
                                          n_conditions=2, seen=[4, 0], reserved=[4])   # 4: practice
    assert excluded == {0, 1, 4, 5, 2}          # sources 0 and 2 seen; main so far: condition 0 once -> 1 next
    assert conditions.practice_pool(condition_of, 0) == [0, 2, 4] and conditions.practice_pool(condition_of, None) == []


def test_serving_loop_keeps_every_rule_under_each_policy() -> None:
    """Many participants served one after another through main_exclusions + allocation.choose_target (what
    study_app.live._serve does): the rules hold for every participant, and balanced allocation spreads votes over
    target ids (each condition of a source a target of its own)."""
    n_sources, n_cond, rounds = 30, 3, 13
    source_of = [i // n_cond for i in range(n_sources * n_cond)]
    condition_of = [i % n_cond for i in range(n_sources * n_cond)]
    members = [list(range(s * n_cond, (s + 1) * n_cond)) for s in range(n_sources)]
    for mode in allocation.MODES:
        rng = random.Random(5)
        votes = [0] * len(source_of)
        tallies = [[0, 0, 0] for _ in source_of]      # dynamic mode: per-target votes per generator
        for _ in range(30):
            seen: list[int] = []
            for _ in range(rounds):
                exclude = conditions.main_exclusions(source_of=source_of, members=members, condition_of=condition_of,
                                                     n_conditions=n_cond, seen=seen, reserved=())
                t = allocation.choose_target(votes, exclude=exclude, rng=rng, mode=mode, tallies=tallies, k=3)
                assert t is not None
                seen.append(t)
                votes[t] += 1
                tallies[t][rng.randrange(3)] += 1
            assert len({source_of[t] for t in seen}) == rounds
            counts = Counter(condition_of[t] for t in seen)
            assert max(counts.values()) - min(counts.values()) <= 1 and len(counts) == n_cond
        if mode == "balanced":
            assert max(votes) - min(votes) <= 1, votes


def test_session_creation_refuses_too_few_sources_or_no_clean_practice(tmp_path: Path, project: Path) -> None:  # noqa: F811
    many = make_bundle(tmp_path, n_targets=ROUNDS + 1, conditions=CONDITIONS, name="few")   # 33 targets, 11 sources
    proc = _otree(project, "test", "attribution_study", "1", env=_cond_env(many.root))
    out = proc.stdout + proc.stderr
    assert "need at least that many source targets" in out and "Bots completed session" not in out, out[-2000:]
    unclean = make_bundle(tmp_path, n_targets=SOURCES, conditions=("jpeg:q=50", "mirror"), name="unclean")
    proc = _otree(project, "test", "attribution_study", "1", env=_cond_env(unclean.root))
    out = proc.stdout + proc.stderr
    assert "practice rounds use clean targets only" in out and "Bots completed session" not in out, out[-2000:]
