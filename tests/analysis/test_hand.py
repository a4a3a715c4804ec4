"""Every number of summary.json on a tiny hand-built study, against answers computed by hand (in the comments).

Targets (truth, algorithm's pick): t1 (dcgan, dcgan), t2 (progan, progan), t3 (stylegan, progan: algorithm wrong),
t4 (dcgan, dcgan but its attempt 0 is bad), t5 (progan, tie progan/stylegan -> progan), t6 (stylegan, stylegan).

Participants: A, B, C kept with votes; D placebo 4/5 = 0.8 (not above 0.8: excluded); E no placebo round
(excluded); F kept with no non-placebo round; G failed its only placebo round.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from sklearn.metrics import cohen_kappa_score

from analysis import analyze, load
from analysis.agreement import cohen_kappa
from contracts.responses import PLACEBO
from contracts.summary import SUMMARY_KEYS
from tests.analysis.builders import build_bundle, vote

TARGETS = {"t1": ("dcgan", "dcgan"), "t2": ("progan", "progan"), "t3": ("stylegan", "progan"),
           "t4": ("dcgan", "dcgan"), "t5": ("progan", "tie:progan,stylegan"), "t6": ("stylegan", "stylegan")}
TRUTH = {t: v[0] for t, v in TARGETS.items()}


def hand_responses() -> list:
    def v(code: str, rnd: int, target: str, chosen: str, placebo: bool = False, ms: float = 1000.0):
        return vote(code, rnd, target, chosen, truth=TRUTH[target], placebo=placebo, ms=ms)

    return [
        v("A", 1, "t6", PLACEBO, True), v("A", 2, "t1", PLACEBO, True),
        v("A", 3, "t1", "dcgan", ms=1000), v("A", 4, "t2", "progan", ms=2000), v("A", 5, "t3", "progan", ms=9000),
        v("A", 6, "t4", "dcgan", ms=3000),
        v("B", 1, "t5", PLACEBO, True),
        v("B", 2, "t1", "dcgan", ms=1500), v("B", 3, "t2", "stylegan", ms=8000), v("B", 4, "t3", "progan", ms=7000),
        v("B", 5, "t5", "progan", ms=2500),
        v("C", 1, "t2", PLACEBO, True),
        v("C", 2, "t1", "progan", ms=6000), v("C", 3, "t2", "dcgan", ms=6500), v("C", 4, "t3", "stylegan", ms=500),
        v("C", 5, "t4", "progan", ms=5000), v("C", 6, "t5", "dcgan", ms=5500),
        v("D", 1, "t1", PLACEBO, True), v("D", 2, "t2", PLACEBO, True), v("D", 3, "t3", PLACEBO, True),
        v("D", 4, "t4", PLACEBO, True), v("D", 5, "t5", "dcgan", True),
        v("D", 6, "t1", "stylegan"), v("D", 7, "t6", "stylegan"),
        v("E", 1, "t3", "stylegan"), v("E", 2, "t6", "stylegan"),
        v("F", 1, "t1", PLACEBO, True),
        v("G", 1, "t2", "progan", True), v("G", 2, "t2", "progan"),
    ]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("hand") / "bundle"
    # t4: dcgan's attempt 0 is poor, so with one attempt the algorithm is wrong on t4 (progan/stylegan tie at 0.5).
    bundle = build_bundle(root, TARGETS, distances={("t4", "dcgan", 0): 0.9})
    return load(bundle, hand_responses())


def test_every_contract_number_by_hand(study) -> None:
    s = analyze(study, placebo_threshold=0.8, min_votes=3, n_bootstrap=0).summary
    assert set(SUMMARY_KEYS) <= set(s)
    assert s["participants_total"] == 7
    assert s["participants_valid"] == 4                       # A, B, C, F
    assert s["placebo_threshold"] == 0.8
    accs = [3 / 4, 2 / 4, 1 / 5]                               # A, B, C (F has no non-placebo round)
    mean = sum(accs) / 3
    assert s["accuracy_mean"] == pytest.approx(mean)
    assert s["accuracy_std"] == pytest.approx(math.sqrt(sum((a - mean) ** 2 for a in accs) / 2))
    assert s["accuracy_std"] == pytest.approx(0.2753785273643051)
    assert s["participants_with_accuracy"] == 3
    assert s["votes_total"] == 13                              # 4 + 4 + 5
    assert s["images_voted"] == 5                              # t1, t2, t3 (3 votes), t4, t5 (2 votes)
    assert s["votes_per_image_mean"] == pytest.approx(13 / 5)
    assert s["votes_per_image_std"] == pytest.approx(math.sqrt((3 * 0.4 ** 2 + 2 * 0.6 ** 2) / 4))
    assert s["min_votes"] == 3
    assert s["images_with_min_votes"] == 3
    # t1: dcgan,dcgan,progan -> dcgan (right; algo right). t2: progan,stylegan,dcgan -> 3-way tie -> dcgan (wrong;
    # algo right). t3: progan,progan,stylegan -> progan (wrong; algo progan wrong, same label).
    assert s["agreement_matrix"] == {"human_correct_algo_correct": 1, "human_correct_algo_incorrect": 0,
                                     "human_incorrect_algo_correct": 1, "human_incorrect_algo_incorrect": 1}
    assert s["label_agreement"] == pytest.approx(2 / 3)
    assert s["majority_ties"] == 1                             # t2
    assert s["majority_ties_all_voted"] == 3                   # t2, t4 (dcgan/progan), t5 (progan/dcgan)


def test_min_votes_two_and_lower_threshold(study) -> None:
    s = analyze(study, placebo_threshold=0.8, min_votes=2, n_bootstrap=0).summary
    # + t4: dcgan/progan tie -> dcgan (right, algo right); t5: progan/dcgan tie -> dcgan (wrong, algo right).
    assert s["images_with_min_votes"] == 5
    assert s["agreement_matrix"] == {"human_correct_algo_correct": 2, "human_correct_algo_incorrect": 0,
                                     "human_incorrect_algo_correct": 2, "human_incorrect_algo_incorrect": 1}
    assert s["label_agreement"] == pytest.approx(3 / 5)
    assert s["majority_ties"] == 3
    low = analyze(study, placebo_threshold=0.79, min_votes=3, n_bootstrap=0).summary
    assert low["participants_valid"] == 5                      # D's 4/5 = 0.8 is above 0.79
    assert low["votes_total"] == 15                            # + D's two votes


def test_beyond_paper_by_hand(study) -> None:
    result = analyze(study, placebo_threshold=0.8, min_votes=3, n_bootstrap=0)
    b = result.summary["beyond_paper"]
    assert b["soft_agreement"] == pytest.approx((2 / 3 + 1 / 3 + 2 / 3) / 3)   # voters choosing the algo's pick
    assert b["mcnemar_exact"]["human_only_correct"] == 0
    assert b["mcnemar_exact"]["algo_only_correct"] == 1
    assert b["mcnemar_exact"]["p_value"] == pytest.approx(1.0)
    majority, algo = ["dcgan", "dcgan", "progan"], ["dcgan", "progan", "progan"]
    assert b["cohen_kappa"] == pytest.approx(cohen_kappa_score(majority, algo))
    assert cohen_kappa(majority, algo) == pytest.approx((2 / 3 - (2 / 3 * 1 / 3 + 1 / 3 * 2 / 3)) / (1 - 4 / 9))
    # The algorithm: t3 wrong; t5's tie goes to progan (right); t4 right with 2+ attempts, wrong with one.
    acc = {r["true_generator"]: r for r in b["algorithm_accuracy"]}
    assert (acc["all"]["correct"], acc["all"]["n"]) == (5, 6)
    attempts = [(r["attempts"], r["correct"]) for r in b["accuracy_vs_attempts"]]
    assert attempts == [(1, 4), (2, 5), (3, 5)]
    conf = result.tables["algorithm_confusion"].set_index(["true_generator", "predicted_generator"])["count"]
    assert conf[("stylegan", "progan")] == 1 and conf[("stylegan", "stylegan")] == 1
    assert conf.sum() == 6
    # Human confusion over the 13 votes: truth dcgan (t1 x3, t4 x2): dcgan 3, progan 2.
    hconf = result.tables["human_confusion"].set_index(["true_generator", "predicted_generator"])["count"]
    assert (hconf[("dcgan", "dcgan")], hconf[("dcgan", "progan")]) == (3, 2)
    # Response times: correct votes A t1,t2,t4; B t1,t5; C t3 -> 1000,2000,3000,1500,2500,500 (median 1750).
    rt = {r["outcome"]: r for r in b["response_times"]["by_outcome"]}
    assert rt["correct"]["n"] == 6 and rt["correct"]["median_ms"] == pytest.approx(1750)
    # Incorrect: 9000, 8000, 7000, 6000, 6500, 5000, 5500 -> median 6500.
    assert rt["incorrect"]["n"] == 7 and rt["incorrect"]["median_ms"] == pytest.approx(6500)
    # Placebo: A 2/2, B 1/1, C 1/1, D 4/5, F 1/1, G 0/1, E none -> 9 of 11 placebo rounds right.
    props = {r["quantity"]: r for r in b["proportions_wilson95"]}
    plac = props["placebo rounds answered correctly (all participants)"]
    assert (plac["k"], plac["n"]) == (9, 11)
    # Coverage to 3 votes: t4, t5 need 1 each, t6 needs 3 -> 5 more votes when balanced.
    designs = {d["design"]: d for d in b["coverage"]["designs"]}
    assert designs["balanced"]["extra_votes"] == 5
    assert b["coverage"]["targets_below_k"] == 3
    assert b["coverage"]["votes_per_participant"] == pytest.approx(13 / 4)   # F casts none
    assert designs["balanced"]["extra_participants"] == 2                     # ceil(5 / 3.25)
    assert designs["balanced"]["extra_recruits"] == 4                         # ceil(2 / (4 / 7))


def test_undefined_statistics_are_null_not_zero(study) -> None:
    s = analyze(study, placebo_threshold=0.8, min_votes=4, n_bootstrap=0).summary
    assert s["images_with_min_votes"] == 0
    assert s["label_agreement"] is None
    assert all(v == 0 for v in s["agreement_matrix"].values())
    assert s["beyond_paper"]["cohen_kappa"] is None
    nobody = analyze(study, placebo_threshold=1.0, min_votes=3, n_bootstrap=10).summary
    assert nobody["participants_valid"] == 0
    assert nobody["accuracy_mean"] is None and nobody["accuracy_std"] is None
    assert nobody["votes_total"] == 0 and nobody["images_voted"] == 0
    assert nobody["votes_per_image_mean"] is None and nobody["label_agreement"] is None


def test_tidy_tables_are_usable_directly(study) -> None:
    t = analyze(study, placebo_threshold=0.8, min_votes=3, n_bootstrap=0).tables
    p = t["participants"].set_index("participant_code")
    assert list(p.index) == ["A", "B", "C", "D", "E", "F", "G"]
    assert p.loc["D", "placebo_accuracy"] == pytest.approx(0.8) and not p.loc["D", "valid"]
    assert math.isnan(p.loc["E", "placebo_accuracy"]) and not p.loc["E", "valid"]
    assert p.loc["F", "valid"] and p.loc["F", "answers"] == 0 and math.isnan(p.loc["F", "accuracy"])
    per_image = t["per_image"].set_index("target_id")
    assert per_image.loc["t2", "majority_generator"] == "dcgan" and per_image.loc["t2", "tie"]
    assert set(per_image.index) == {"t1", "t2", "t3", "t4", "t5"}
    vpi = dict(zip(t["votes_per_image"]["votes"], t["votes_per_image"]["images"]))
    assert vpi == {0: 1, 2: 2, 3: 3}


def test_load_reads_the_contract_files(tmp_path: Path) -> None:
    from contracts.responses import write_responses

    bundle = build_bundle(tmp_path / "bundle", TARGETS)
    write_responses(tmp_path / "r.csv", hand_responses())
    from_files = load(tmp_path / "bundle", tmp_path / "r.csv")
    from_objects = load(bundle, hand_responses())
    assert from_files.responses.equals(from_objects.responses)
    assert from_files.targets.equals(from_objects.targets)
