"""Dynamic overlap (issue 17): the settling rule against brute force and on hand-built vote sequences, the dynamic
choice, the tallies rebuilt after a restart, a simulated session with dropouts, and the session config."""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
from pathlib import Path

import pytest

from study_app import allocation
from study_app.config import study_settings
from study_app.stimuli import StudyConfigError
from study_app.session_state import SessionState, TrialRow, count_vote, derive_allocation, derive_tallies

ROOT = Path(__file__).resolve().parents[2]


def _naive_settled(counts: tuple[int, ...], k: int) -> bool:
    """Independent: every way of casting the remaining k - n votes gives the same winner (most votes, ties to the
    lowest index)."""
    r = max(0, k - sum(counts))
    winners = set()
    for extra in itertools.product(range(len(counts)), repeat=r):
        c = list(counts)
        for g in extra:
            c[g] += 1
        winners.add(min(i for i, v in enumerate(c) if v == max(c)))
    return len(winners) == 1


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("generators", [2, 3, 4])
def test_settled_equals_brute_force_on_every_count_vector(k: int, generators: int) -> None:
    checked = 0
    for counts in itertools.product(range(k + 1), repeat=generators):
        if sum(counts) > k + 1:
            continue
        assert allocation.settled(counts, k) == _naive_settled(counts, k), (counts, k)
        checked += 1
    assert checked >= 4


def _first_settled(sequence: list[int], k: int, generators: int = 3) -> int | None:
    """Votes cast (1-based) when the majority of k settled, replaying a vote sequence."""
    c = [0] * generators
    for i, g in enumerate(sequence, 1):
        c[g] += 1
        if allocation.settled(c, k):
            return i
    return None


def test_hand_built_vote_sequences() -> None:
    assert _first_settled([1, 1], 3) == 2                  # two agreeing of three settle it
    assert _first_settled([1, 2, 1], 3) == 3               # disagreement: the third vote decides
    assert _first_settled([0, 1, 2], 3) == 3               # 1-1-1 at k: the lowest id wins, as in a full study
    assert _first_settled([2, 2], 3) == 2
    assert _first_settled([1], 3) is None and _first_settled([1, 2], 3) is None
    assert _first_settled([0, 0, 0], 5) == 3               # 3 of 5
    assert _first_settled([1, 0, 1, 0], 5) is None         # 2-2 with one vote to come
    assert _first_settled([2, 0, 2], 4) is None            # (1,0,2): 0 can still tie 2-2 and win the tie
    assert _first_settled([0, 2, 0], 4) == 3               # (2,0,1)... index 0 leads 2-1: a 2-2 tie goes to 0
    assert _first_settled([0], 1) == 1
    assert allocation.leader([1, 2, 2]) == 1 and allocation.leader([0, 0, 0]) == 0
    with pytest.raises(ValueError):
        allocation.settled([1, 0], 0)


def test_votes_to_settle() -> None:
    assert allocation.votes_to_settle([0, 0, 0], 3) == 2
    assert allocation.votes_to_settle([1, 0, 0], 3) == 1
    assert allocation.votes_to_settle([1, 1, 0], 3) == 1
    assert allocation.votes_to_settle([2, 0, 0], 3) == 0
    assert allocation.votes_to_settle([0, 0, 0], 5) == 3


def _choose(load: list[int], tallies: list[list[int]], exclude: set[int] = set(), seed: int = 0) -> set[int]:
    return {allocation.choose_target(load, exclude=exclude, rng=random.Random(f"{seed}|{i}"), mode="dynamic",
                                     tallies=tallies, k=3) for i in range(60)}


def test_dynamic_serves_disagreement_first_and_never_settled_targets() -> None:
    tallies = [[2, 0, 0], [1, 1, 0], [1, 0, 0], [0, 0, 0], [0, 1, 1]]
    load = [sum(c) for c in tallies]
    assert _choose(load, tallies) == {1, 4}                    # disagreement first; target 0 is settled
    assert _choose(load, tallies, exclude={1, 4}) == {2}       # then the closest to settling
    assert _choose(load, tallies, exclude={1, 2, 4}) == {3}
    held = list(load)
    held[3] += 2                                               # two participants already answering target 3
    assert _choose(held, tallies, exclude={1, 2, 4}) == {3}    # nothing open: an extra vote, least settled
    assert _choose(held, tallies, exclude={1, 2, 3, 4}) == {0}  # a settled target only when nothing else is left
    with pytest.raises(ValueError, match="tallies"):
        allocation.choose_target(load, exclude=set(), rng=random.Random(0), mode="dynamic")


def test_dynamic_extra_votes_go_where_voters_disagree_most() -> None:
    tallies = [[3, 0, 0], [2, 1, 0], [1, 1, 1]]               # all settled (k = 3)
    assert _choose([3, 3, 3], tallies) == {2}                  # margin 0 first
    assert _choose([3, 3, 3], tallies, exclude={2}) == {1}


def test_placebo_rounds_keep_taking_the_most_loaded_target() -> None:
    tallies = [[2, 0, 0], [0, 0, 0], [1, 0, 0]]
    pick = allocation.choose_target([2, 0, 1], exclude=set(), rng=random.Random(0), mode="dynamic", prefer="most",
                                    tallies=tallies, k=3)
    assert pick == 0


def test_tallies_rebuilt_from_trials_equal_the_live_counts() -> None:
    gens = ("dcgan", "progan", "stylegan")
    trials = [
        TrialRow("a", "main", 0, is_placebo=False, answered=True, last_time=1.0, chosen_generator="dcgan"),
        TrialRow("b", "main", 0, is_placebo=False, answered=True, last_time=2.0, chosen_generator="dcgan"),
        TrialRow("a", "main", 1, is_placebo=False, answered=True, last_time=3.0, chosen_generator="progan"),
        TrialRow("b", "main", 1, is_placebo=False, answered=True, last_time=4.0, chosen_generator="stylegan"),
        TrialRow("c", "main", 1, is_placebo=False, answered=False, last_time=5.0),               # a hold
        TrialRow("c", "main", 2, is_placebo=True, answered=True, last_time=6.0, chosen_generator="PLACEBO"),
        TrialRow("c", "practice", 3, is_placebo=False, answered=True, last_time=0.5, chosen_generator="dcgan"),
    ]
    tallies = derive_tallies(4, gens, trials)
    assert tallies == [(2, 0, 0), (0, 1, 1), (0, 0, 0), (0, 0, 0)]
    votes, holds = derive_allocation(4, trials)
    live = SessionState(code="s", settings=None, base_url="", bundle="", fingerprint="",  # type: ignore[arg-type]
                        practice_targets=[3], votes=[0] * 4, generators=gens, tallies=[(0, 0, 0)] * 4)
    for t in trials:
        if t.phase == "main" and not t.is_placebo and t.answered:
            count_vote(live, t.target_index, str(t.chosen_generator))
    assert (live.votes, live.tallies) == (votes, tallies)
    assert allocation.settled(tallies[0], 3) and not allocation.settled(tallies[1], 3)
    # after the restart, the next participant gets the disagreement target, never the settled one
    load = allocation.loads(votes, holds)
    assert _choose(load, tallies, exclude={3}) == {2}          # target 1 needs one vote and c holds it: not open
    del holds["c"]                                             # c dropped out: target 1 returns to the pool
    assert _choose(allocation.loads(votes, holds), tallies, exclude={3}) == {1}


def test_simulated_dynamic_session_settles_every_target_with_dropouts() -> None:
    from analysis.plan import Crowd, simulate_session

    crowd = Crowd(dropout=0.3)
    runs = {mode: simulate_session(n_targets=120, k=3, rounds=30, allocation=mode, crowd=crowd, seed=3)
            for mode in ("balanced", "dynamic")}
    dyn = runs["dynamic"]
    assert dyn.finished and dyn.dropouts > 0
    votes = dyn.answers[~dyn.answers["placebo"]].iloc[:dyn.answers_until_done]  # until the last one settled
    assert not dyn.answers.duplicated(["participant", "target"]).any()  # never twice to one participant
    tallies = [[0, 0, 0] for _ in range(120)]
    for t, c in zip(votes["target"], votes["choice"]):
        tallies[t][c] += 1
    assert all(allocation.settled(c, 3) for c in tallies)
    assert sum(sum(c) == 2 for c in tallies) > 60               # most settle with two agreeing votes
    assert dyn.answers_until_done < 0.85 * runs["balanced"].answers_until_done


def test_session_config_accepts_dynamic_and_rejects_unknown() -> None:
    base = dict(bundle="b", rounds=10, practice_rounds=0, placebo_probability=0.05, votes_per_target=3,
                dropout_timeout_s=600, completion_url="", completion_code="", consent_text="", expected_minutes=0,
                stimulus_base_url="", participation_fee=2.0)
    assert study_settings({**base, "allocation": "dynamic"}).allocation == "dynamic"
    with pytest.raises(StudyConfigError, match="balanced, random, dynamic"):
        study_settings({**base, "allocation": "greedy"})


def test_the_analysis_loads_the_rules_without_otree(tmp_path: Path) -> None:
    """analysis.app_rules loads study_app/allocation.py by path: it must import nothing that starts oTree (run in
    a directory that is not an oTree project)."""
    code = ("import sys; from analysis.app_rules import settled; assert settled([2, 0, 0], 3); "
            "assert 'otree' not in sys.modules and 'study_app' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
