"""A simulated study (participants of known skill, careless ones failing placebo rounds, dropouts, majority ties)
checked against a second computation written plainly here: loops over the rows read by ``contracts``, the
standard library's ``statistics``, no code shared with the analysis.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from analysis import analyze, load
from analysis.simulate import simulate_study, write_study
from contracts.bundle import read_bundle
from contracts.responses import PLACEBO, read_responses


def plain_summary(bundle_dir: Path, responses_csv: Path, *, threshold: float, min_votes: int) -> dict:
    bundle = read_bundle(bundle_dir)
    rows = read_responses(responses_csv)
    truth = {t.target_id: t.true_generator for t in bundle.targets}
    # The algorithm, by hand: smallest distance over attempts per generator, then smallest over generators,
    # ties to the alphabetically first generator.
    best: dict[str, dict[str, float]] = defaultdict(dict)
    for r in bundle.reconstructions:
        if r.generator not in best[r.target_id] or r.distance < best[r.target_id][r.generator]:
            best[r.target_id][r.generator] = r.distance
    algo = {}
    for tid, per in best.items():
        pick = None
        for g in sorted(per):
            if pick is None or per[g] < per[pick]:
                pick = g
        algo[tid] = pick

    placebo_seen: dict[str, list[int]] = defaultdict(list)
    answers: dict[str, list[int]] = defaultdict(list)
    people = set()
    for r in rows:
        people.add(r.participant_code)
        if r.is_placebo:
            placebo_seen[r.participant_code].append(1 if r.chosen_generator == PLACEBO else 0)
        else:
            answers[r.participant_code].append(1 if r.chosen_generator == truth[r.target_id] else 0)
    kept = {p for p in people if placebo_seen[p] and sum(placebo_seen[p]) / len(placebo_seen[p]) > threshold}
    accs = [sum(answers[p]) / len(answers[p]) for p in sorted(kept) if answers[p]]

    votes: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        if r.participant_code in kept and not r.is_placebo:
            votes[r.target_id].append(r.chosen_generator)
    per_image = [len(v) for v in votes.values()]
    matrix = {"human_correct_algo_correct": 0, "human_correct_algo_incorrect": 0,
              "human_incorrect_algo_correct": 0, "human_incorrect_algo_incorrect": 0}
    agree = ties = enough = 0
    for tid, v in votes.items():
        if len(v) < min_votes:
            continue
        enough += 1
        counts = Counter(v)
        top = max(counts.values())
        winners = sorted(g for g, c in counts.items() if c == top)
        if len(winners) > 1:
            ties += 1
        majority = winners[0]
        human = "correct" if majority == truth[tid] else "incorrect"
        machine = "correct" if algo[tid] == truth[tid] else "incorrect"
        matrix[f"human_{human}_algo_{machine}"] += 1
        agree += majority == algo[tid]
    return {
        "participants_total": len(people), "participants_valid": len(kept),
        "accuracy_mean": statistics.mean(accs) if accs else None,
        "accuracy_std": statistics.stdev(accs) if len(accs) > 1 else None,
        "votes_total": sum(per_image), "images_voted": len(per_image),
        "votes_per_image_mean": statistics.mean(per_image) if per_image else None,
        "votes_per_image_std": statistics.stdev(per_image) if len(per_image) > 1 else None,
        "images_with_min_votes": enough, "agreement_matrix": matrix,
        "label_agreement": agree / enough if enough else None, "majority_ties": ties,
    }


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    sim = simulate_study(n_targets=90, n_participants=40, rounds=40, placebo_rate=0.15, careless=0.2,
                         dropout=0.3, algorithm_error=0.1, skill_range=(0.55, 0.95), follow_algorithm=0.4,
                         seed=7)
    bundle_dir, responses_csv = write_study(tmp_path_factory.mktemp("sim"), sim)
    return bundle_dir, responses_csv, sim


@pytest.mark.parametrize("threshold,min_votes", [(0.8, 3), (0.5, 2), (0.8, 5), (0.0, 1)])
def test_simulated_study_matches_plain_computation(simulated, threshold: float, min_votes: int) -> None:
    bundle_dir, responses_csv, _ = simulated
    expected = plain_summary(bundle_dir, responses_csv, threshold=threshold, min_votes=min_votes)
    got = analyze(load(bundle_dir, responses_csv), placebo_threshold=threshold, min_votes=min_votes,
                  n_bootstrap=0).summary
    for key, value in expected.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-12), key
        else:
            assert got[key] == value, key


def test_the_simulation_exercises_every_policy(simulated) -> None:
    """Guards the test above against a vacuous scenario: exclusions, dropouts, ties and algorithm errors occur."""
    bundle_dir, responses_csv, sim = simulated
    expected = plain_summary(bundle_dir, responses_csv, threshold=0.8, min_votes=3)
    assert 0 < expected["participants_valid"] < expected["participants_total"]
    assert expected["majority_ties"] > 0
    assert expected["agreement_matrix"]["human_incorrect_algo_correct"] > 0
    assert expected["agreement_matrix"]["human_correct_algo_incorrect"] > 0
    rounds = Counter(r.participant_code for r in sim.responses)
    assert min(rounds.values()) < max(rounds.values())             # dropouts
    result = analyze(load(bundle_dir, responses_csv), n_bootstrap=0)
    p = result.tables["participants"].set_index("participant_code")
    careless_kept = [c for c in sim.careless if c in p.index and p.loc[c, "valid"]]
    assert len(careless_kept) < len(sim.careless) / 2               # most careless participants are filtered out


def test_known_skill_is_recovered(tmp_path: Path) -> None:
    """With many rounds, each kept participant's accuracy is close to the skill that generated the answers."""
    sim = simulate_study(n_targets=30, n_participants=12, rounds=400, careless=0.0, dropout=0.0,
                         algorithm_error=0.0, skill_range=(0.5, 0.95), seed=3)
    bundle_dir, responses_csv = write_study(tmp_path, sim)
    p = analyze(load(bundle_dir, responses_csv), n_bootstrap=0).tables["participants"]
    for row in p.itertuples():
        if row.valid:
            assert abs(row.accuracy - sim.skill[row.participant_code]) < 0.09, row.participant_code
