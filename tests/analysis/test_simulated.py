"""A simulated study (participants of known skill, careless ones failing placebo rounds, dropouts, majority ties)
checked against a second computation written plainly here: loops over the rows read by ``contracts``, the
standard library's ``statistics``, no code shared with the analysis.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
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


# ------------------------------------------------------------------------- conditions (docs/contracts.md, conditions addendum)

CONDITIONS = ("clean", "jpeg:q=50", "mirror")


@pytest.fixture(scope="module")
def with_conditions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    """People whose skill depends on the condition (mirroring halves it), an algorithm that errs more on mirrored
    targets; careless participants, dropouts and ties as above."""
    sim = simulate_study(n_targets=40, n_participants=36, rounds=45, placebo_rate=0.15, careless=0.2, dropout=0.3,
                         algorithm_error=0.05, skill_range=(0.6, 0.95), follow_algorithm=0.4, seed=11,
                         conditions=CONDITIONS, condition_skill={"jpeg:q=50": 0.9, "mirror": 0.5},
                         condition_algorithm_error={"mirror": 0.3})
    bundle_dir, responses_csv = write_study(tmp_path_factory.mktemp("simcond"), sim)
    return bundle_dir, responses_csv, sim


@pytest.mark.parametrize("threshold,min_votes", [(0.8, 3), (0.5, 6)])
def test_by_condition_matches_plain_computation(with_conditions, threshold: float, min_votes: int) -> None:
    from tests.helpers.plain_summary import plain_by_condition

    bundle_dir, responses_csv, _ = with_conditions
    got = analyze(load(bundle_dir, responses_csv), placebo_threshold=threshold, min_votes=min_votes,
                  n_bootstrap=0).summary
    expected = plain_by_condition(bundle_dir, responses_csv, threshold=threshold, min_votes=min_votes)
    assert list(got["by_condition"]) == list(CONDITIONS)                 # keyed by name, in build order
    for cond, values in expected.items():
        assert set(got["by_condition"][cond]) == set(values), cond      # exactly the contract's keys
        for key, value in values.items():
            if isinstance(value, float):
                assert got["by_condition"][cond][key] == pytest.approx(value, rel=1e-12), (cond, key)
            else:
                assert got["by_condition"][cond][key] == value, (cond, key)
    # the top-level keys still pool every condition
    top = plain_summary(bundle_dir, responses_csv, threshold=threshold, min_votes=min_votes)
    assert got["votes_total"] == top["votes_total"] == sum(v["votes_total"] for v in expected.values())


def test_condition_dependent_skill_is_recovered_and_tested(with_conditions) -> None:
    """Not vacuous: mirroring really hurts people and the algorithm; the paired test's differences equal a plain
    computation, and scipy's Wilcoxon on them gives the reported p-values."""
    from scipy.stats import wilcoxon

    from tests.helpers.plain_summary import plain_by_condition, plain_drop_differences

    bundle_dir, responses_csv, _ = with_conditions
    result = analyze(load(bundle_dir, responses_csv), n_bootstrap=300, seed=1)
    by = plain_by_condition(bundle_dir, responses_csv, threshold=0.8, min_votes=3)
    assert by["mirror"]["accuracy_mean"] < by["jpeg:q=50"]["accuracy_mean"] < by["clean"]["accuracy_mean"]
    assert by["mirror"]["algorithm_accuracy"] < by["clean"]["algorithm_accuracy"]
    assert min(v["images_with_min_votes"] for v in by.values()) > 0
    rob = result.tables["robustness"].set_index("condition")
    assert list(rob.index) == list(CONDITIONS)
    for cond in ("jpeg:q=50", "mirror"):
        d = plain_drop_differences(bundle_dir, responses_csv, threshold=0.8, condition=cond)
        assert rob.loc[cond, "pairs"] == len(d) > 10
        assert rob.loc[cond, "mean_difference"] == pytest.approx(sum(d) / len(d), rel=1e-12)
        assert rob.loc[cond, "p_value"] == pytest.approx(wilcoxon(d).pvalue, rel=1e-12)
        assert rob.loc[cond, "p_value_greater"] == pytest.approx(wilcoxon(d, alternative="greater").pvalue, rel=1e-12)
        row = rob.loc[cond]
        assert row["human_ci_low"] < row["human_accuracy"] < row["human_ci_high"]
        assert row["algorithm_ci_low"] < row["algorithm_accuracy"] < row["algorithm_ci_high"]
    assert rob.loc["clean", "pairs"] == 0 and pd.isna(rob.loc["clean", "p_value"])  # nothing to compare with
