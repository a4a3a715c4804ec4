"""Edges the hand-computed study does not reach: a target with exactly ``min_votes`` votes (and one with a single
vote) at every threshold, and Dawid--Skene judged against crowd-kit called directly, on votes where it disagrees
with the majority vote."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene

from analysis import analyze, load
from analysis.agreement import agreement_matrix, agreement_table
from analysis.models import dawid_skene
from analysis.votes import majority_vote, vote_summary
from contracts.responses import PLACEBO
from tests.analysis.builders import GENS, build_bundle, vote

# t1 gets 1 vote, t2 2, t3 3, t4 4 (all from kept participants); the algorithm is right on t1, t3, wrong on t2, t4
BOUNDARY_TARGETS = {"t1": ("dcgan", "dcgan"), "t2": ("progan", "stylegan"), "t3": ("stylegan", "stylegan"),
                    "t4": ("dcgan", "progan")}
VOTERS = {"A": ["t1", "t2", "t3", "t4"], "B": ["t2", "t3", "t4"], "C": ["t3", "t4"], "D": ["t4"]}


@pytest.fixture(scope="module")
def boundary(tmp_path_factory: pytest.TempPathFactory):
    bundle = build_bundle(tmp_path_factory.mktemp("boundary") / "bundle", BOUNDARY_TARGETS)
    truth = {t: v[0] for t, v in BOUNDARY_TARGETS.items()}
    rows = []
    for code, targets in VOTERS.items():
        rows.append(vote(code, 1, "t1", PLACEBO, truth="dcgan", placebo=True))   # passes its placebo round: kept
        rows += [vote(code, r + 2, t, truth[t], truth=truth[t]) for r, t in enumerate(targets)]  # all correct
    return load(bundle, rows)


@pytest.mark.parametrize("k, expected", [(1, ["t1", "t2", "t3", "t4"]), (2, ["t2", "t3", "t4"]), (3, ["t3", "t4"]),
                                         (4, ["t4"]), (5, [])])
def test_a_target_with_exactly_min_votes_enters(boundary, k: int, expected: list[str]) -> None:
    from analysis.participants import participant_table
    from analysis.votes import valid_votes
    participants = participant_table(boundary.responses, placebo_threshold=0.8)
    majority = majority_vote(valid_votes(boundary.responses, participants), GENS)
    assert dict(zip(majority["target_id"], majority["n_votes"])) == {"t1": 1, "t2": 2, "t3": 3, "t4": 4}
    assert vote_summary(majority, min_votes=k)["images_with_min_votes"] == len(expected)
    assert sorted(agreement_table(majority, boundary.targets, min_votes=k)["target_id"]) == expected

    s = analyze(boundary, min_votes=k, n_bootstrap=0).summary
    assert s["participants_valid"] == 4
    assert s["images_with_min_votes"] == len(expected)
    # humans are always right; the algorithm is right on t1 and t3 only
    algo_right = {"t1", "t3"}
    assert s["agreement_matrix"] == {
        "human_correct_algo_correct": len(algo_right & set(expected)),
        "human_correct_algo_incorrect": len(set(expected) - algo_right),
        "human_incorrect_algo_correct": 0, "human_incorrect_algo_incorrect": 0}
    assert s["label_agreement"] == (pytest.approx(len(algo_right & set(expected)) / len(expected)) if expected
                                    else None)
    ds = {row["scope"]: row for row in s["beyond_paper"]["dawid_skene"]["scope"]}
    assert ds[f">= {k} votes"]["targets"] == len(expected)
    assert agreement_matrix(agreement_table(majority, boundary.targets, min_votes=k)) == s["agreement_matrix"]


def test_per_image_table_keeps_single_vote_targets(boundary) -> None:
    per_image = analyze(boundary, min_votes=3, n_bootstrap=0).tables["per_image"]
    assert sorted(per_image["target_id"]) == ["t1", "t2", "t3", "t4"]
    assert dict(zip(per_image["target_id"], per_image["n_votes"])) == {"t1": 1, "t2": 2, "t3": 3, "t4": 4}


# ------------------------------------------------------------------------------------------------ Dawid-Skene

def _spammer_votes() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three careful voters who are always right and four who always answer dcgan: on every target whose truth is
    not dcgan, three spammers outvote two careful voters, so the majority vote is wrong there and Dawid--Skene,
    which learns that the spammers' answer carries no information, is not."""
    gens = list(GENS)
    rows = []
    targets = []
    for i in range(18):
        tid, truth = f"x{i:02d}", gens[i % 3]
        targets.append({"target_id": tid, "true_generator": truth, "algo_generator": gens[(i + (i % 2)) % 3]})
        careful = [f"G{(i + j) % 3}" for j in range(2)]
        spam = [f"S{(i + j) % 4}" for j in range(3)]
        rows += [{"participant_code": c, "target_id": tid, "chosen_generator": truth} for c in careful]
        rows += [{"participant_code": c, "target_id": tid, "chosen_generator": "dcgan"} for c in spam]
    return pd.DataFrame(rows), pd.DataFrame(targets)


def test_dawid_skene_is_crowd_kit_and_differs_from_majority_vote() -> None:
    votes, targets = _spammer_votes()
    labels, summary = dawid_skene(votes, targets, min_votes=5, n_iter=100)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = DawidSkene(n_iter=100).fit_predict(votes.rename(columns={
            "participant_code": "worker", "target_id": "task", "chosen_generator": "label"}))
    ours = labels.set_index("target_id")["ds_generator"]
    assert ours.sort_index().to_dict() == direct.sort_index().to_dict()

    truth = targets.set_index("target_id")["true_generator"]
    algo = targets.set_index("target_id")["algo_generator"]
    mv = majority_vote(votes, GENS).set_index("target_id")["majority_generator"]
    ds_acc = float((direct == truth.reindex(direct.index)).mean())
    mv_acc = float((mv == truth.reindex(mv.index)).mean())
    assert mv_acc == pytest.approx(1 / 3)     # the spammers win every non-dcgan target
    assert ds_acc > mv_acc + 0.3, (ds_acc, mv_acc)  # the table is one where the two aggregates really differ
    for scope in summary["scope"]:
        assert scope["targets"] == 18
        assert scope["ds_accuracy"] == pytest.approx(ds_acc)
        assert scope["mv_accuracy"] == pytest.approx(mv_acc)
        assert scope["ds_agreement_with_algo"] == pytest.approx(float((direct == algo.reindex(direct.index)).mean()))
        assert scope["mv_agreement_with_algo"] == pytest.approx(float((mv == algo.reindex(mv.index)).mean()))
        assert scope["labels_differing"] == int((direct != mv.reindex(direct.index)).sum()) > 0


# ------------------------------------------------------------------------------------- vote tables at their edges

def test_vote_counts_edges_and_distribution_without_unvoted_targets() -> None:
    from analysis.votes import vote_counts, votes_per_image_distribution
    votes = pd.DataFrame({"target_id": ["a", "a", "b"], "chosen_generator": ["dcgan", "zzz", "yyy"]})
    with pytest.raises(ValueError) as err:
        vote_counts(votes, GENS)
    assert str(err.value) == "votes name generator(s) ['yyy', 'zzz'] not in ['dcgan', 'progan', 'stylegan']"
    empty = vote_counts(votes.iloc[:0], ["stylegan", "dcgan"])
    assert list(empty.columns) == ["dcgan", "stylegan"] and empty.index.name == "target_id" and len(empty) == 0
    majority = majority_vote(pd.DataFrame({"target_id": ["a", "b", "b"], "chosen_generator": ["dcgan"] * 3}), GENS)
    every_target_voted = votes_per_image_distribution(majority, n_targets=2)
    assert every_target_voted.to_dict(orient="list") == {"votes": [1, 2], "images": [1, 1]}   # no "0 votes" row
    one_unvoted = votes_per_image_distribution(majority, n_targets=3)
    assert one_unvoted.to_dict(orient="list") == {"votes": [0, 1, 2], "images": [1, 1, 1]}


def test_dawid_skene_summary_names_its_scopes_and_method_and_handles_edges() -> None:
    """The summary's shape as the report and summary.json read it: the two scopes by name (the min-votes one empty
    when no target reaches it), the method, agreement with an algorithm that is right on 2 of 3 targets, a generator
    that was voted for but made no target, and no votes at all."""
    votes, targets = _spammer_votes()
    targets["algo_generator"] = [t if i % 3 else "progan" if t != "progan" else "stylegan"
                                 for i, t in enumerate(targets["true_generator"])]
    extra = pd.DataFrame([{"participant_code": "G0", "target_id": "x00", "chosen_generator": "zoo-extra"}])
    labels, summary = dawid_skene(pd.concat([votes, extra], ignore_index=True), targets, min_votes=7, n_iter=50)
    assert summary["method"] == "Dawid-Skene EM (crowd-kit, n_iter=50)"
    assert [s["scope"] for s in summary["scope"]] == [">= 7 votes", "all voted"]
    none, every = summary["scope"]
    assert none == {"scope": ">= 7 votes", "targets": 0, "ds_accuracy": None, "mv_accuracy": None,
                    "ds_agreement_with_algo": None, "mv_agreement_with_algo": None, "labels_differing": 0}
    ds = labels.set_index("target_id")["ds_generator"]
    algo = targets.set_index("target_id")["algo_generator"].reindex(ds.index)
    assert every["targets"] == 18
    assert every["ds_agreement_with_algo"] == pytest.approx(float((ds == algo).mean()))
    assert every["ds_agreement_with_algo"] != pytest.approx(0.5)  # not symmetric under == / !=
    empty_labels, empty = dawid_skene(votes.iloc[:0], targets, min_votes=3)
    assert empty == {"scope": [], "note": "no votes"}
    assert list(empty_labels.columns) == ["target_id", "ds_generator"] and len(empty_labels) == 0
