"""A simulated study (participants of known skill, careless ones failing placebo rounds, dropouts, majority ties)
checked against a second computation written plainly here: loops over the rows read by ``contracts``, the
standard library's ``statistics``, no code shared with the analysis.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from analysis import analyze, load
from analysis.simulate import simulate_study, write_study
from tests.helpers.plain_summary import plain_summary


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
