"""Allocation and answer rules at their edges (issue 18's surviving mutants of study_app/allocation.py, rounds.py and
session_state.py): the exact dropout timeout, the smallest allowed settings, dynamic overlap's tie rules (least
load among equally needed targets; smallest margin, then least load, once all are settled), the votes an unvoted
two-generator target needs, a participant's latest activity from trials in any order, and the exact codes and
messages of every refusal (the app logs the code and shows the participant the message)."""

from __future__ import annotations

import random

import pytest

from study_app import allocation
from study_app.rounds import AnswerError, check_answer, make_layout, parse_choice, parse_response_ms, placebo_schedule
from study_app.session_state import TrialRow, derive_allocation


@pytest.fixture(autouse=True)
def fresh_tally_cache() -> None:
    allocation._INFO.clear()  # the dynamic choice caches facts per tally: compute them in this test


# --------------------------------------------------------------------------------------------- holds and floors

def test_a_participant_idle_exactly_the_timeout_is_not_released() -> None:
    holds: allocation.Holds = {"ann": [[1], 100.0], "bob": [[2], 99.0]}
    assert allocation.release_dropouts(holds, now=160.0, timeout_s=60.0) == ["bob"]  # 60 s idle: kept; 61 s: gone
    assert list(holds) == ["ann"]
    assert allocation.release_dropouts(holds, now=100.75, timeout_s=0.5) == ["ann"]  # sub-second timeouts work
    with pytest.raises(ValueError) as e:
        allocation.release_dropouts(holds, now=0.0, timeout_s=-1.0)
    assert str(e.value) == "timeout_s must be > 0, got -1.0"


def test_participants_needed_with_one_answer_each() -> None:
    assert allocation.participants_needed(votes_per_target=3, n_targets=10, answers_per_participant=1) == 30
    with pytest.raises(ValueError) as e:
        allocation.participants_needed(votes_per_target=3, n_targets=10, answers_per_participant=0)
    assert str(e.value) == "answers_per_participant must be >= 1, got 0"


def test_choose_target_refusals() -> None:
    rng = random.Random(0)
    cases = [
        (dict(mode="fair"), "allocation mode 'fair' unknown; use one of balanced, random, dynamic"),
        (dict(prefer="middle"), "prefer must be 'least' or 'most', got 'middle'"),
        (dict(mode="dynamic", tallies=[[0, 0]] * 3), "dynamic allocation needs the tallies and k"),  # k missing
        (dict(mode="dynamic", k=3), "dynamic allocation needs the tallies and k"),  # tallies missing
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError) as e:
            allocation.choose_target([0, 0, 0], exclude=set(), rng=rng, **kwargs)  # type: ignore[arg-type]
        assert str(e.value) == message


# --------------------------------------------------------------------------------------------- dynamic overlap

def test_settling_refusals_and_an_unvoted_pair() -> None:
    with pytest.raises(ValueError) as e:
        allocation.leader([])
    assert str(e.value) == "counts must name at least one answer"
    with pytest.raises(ValueError) as e:
        allocation.settled([0, 0], 0)
    assert str(e.value) == "k must be >= 1, got 0"
    # two generators, majority of 2, no vote yet: one vote for the lower id would settle it (it wins the tie), but
    # the documented count is for the answer that needs most (the higher id): two votes
    assert allocation.votes_to_settle([0, 0], 2) == 2
    assert allocation.votes_to_settle([0, 0], 4) == 3


@pytest.mark.parametrize(("counts", "expected"), [([3, 2, 1], 1), ([1, 3, 2], 1), ([3, 2], 1), ([2, 2], 0),
                                                  ([0, 3], 3), ([4], 4)])
def test_margin_is_leader_minus_runner_up(counts: list[int], expected: int) -> None:
    assert allocation.margin(counts) == expected


def _dynamic(load: list[int], tallies: list[list[int]], k: int) -> set[int]:
    """Every target the dynamic choice can return (over many rng seeds)."""
    return {allocation.choose_target(load, exclude=set(), rng=random.Random(s), mode="dynamic", tallies=tallies, k=k)
            for s in range(40)}  # type: ignore[misc]


def test_equally_needed_open_targets_go_to_the_least_loaded() -> None:
    k = 5
    tallies, load = [[2, 2, 0], [1, 1, 0]], [4, 3]  # both disagreed, one vote still needed; target 1 has a hold
    assert [allocation.open_need(t, l, k) for t, l in zip(tallies, load)] == [1, 1]
    assert all(allocation.disagreement(t) for t in tallies)
    assert _dynamic(load, tallies, k) == {1}
    tallies, load = [[0, 0], [1, 0]], [2, 2]  # no disagreement, one each needed: equal load, either
    assert [allocation.open_need(t, l, k) for t, l in zip(tallies, load)] == [1, 1]
    assert _dynamic(load, tallies, k) == {0, 1}


def test_once_all_are_settled_the_smallest_margin_then_least_load_gets_the_vote() -> None:
    k = 3
    tallies, load = [[3, 0], [2, 1], [2, 1]], [3, 4, 5]  # all settled; margins 3, 1, 1
    assert all(allocation.settled(t, k) for t in tallies)
    assert _dynamic(load, tallies, k) == {1}


# --------------------------------------------------------------------------------------------- rounds and answers

def test_smallest_settings_are_allowed() -> None:
    assert placebo_schedule(1, 0.0, random.Random(0)) == (1,)  # one round: the forced placebo is that round
    layout = make_layout(["g1", "g2"], 3, placebo=False, rng=random.Random(0))  # two generators suffice
    assert sorted(layout.row_order) == ["g1", "g2"] and len(layout.cells) == 6
    for args, message in [((0, 0.5), "n_rounds must be >= 1, got 0"),
                          ((5, 1.5), "placebo probability must be in [0, 1], got 1.5")]:
        with pytest.raises(ValueError) as e:
            placebo_schedule(*args, random.Random(0))
        assert str(e.value) == message


def _refusal(call) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(AnswerError) as e:
        call()
    return e.value.code, str(e.value)


def test_every_answer_refusal_has_its_code_and_message() -> None:
    assert _refusal(lambda: parse_choice(None, 6)) == ("bad_choice", "choice must be a slot number 1-6")
    assert _refusal(lambda: parse_choice("two", 6)) == ("bad_choice", "choice must be a slot number 1-6")
    assert _refusal(lambda: parse_choice(7, 6)) == ("bad_choice", "choice 7 outside 1-6")
    assert _refusal(lambda: parse_response_ms("12")) == ("bad_message", "response_ms must be a number")
    assert _refusal(lambda: parse_response_ms(-0.5)) == ("bad_message", "response_ms -0.5 out of range")
    assert _refusal(lambda: parse_response_ms(86_400_000)) == ("bad_message", "response_ms 86400000 out of range")
    assert _refusal(lambda: parse_response_ms(86_400_000.5)) == ("bad_message",
                                                                 "response_ms 86400000.5 out of range")
    served = dict(served_round=2, served_token="tok", answered_choice=None)
    assert _refusal(lambda: check_answer(**served, round_number=3, token="tok", choice=1)) == (
        "not_served", "round 3 was not served to you")
    assert _refusal(lambda: check_answer(served_round=None, served_token="tok", answered_choice=None,
                                         round_number=None, token="tok", choice=1)) == (
        "not_served", "round None was not served to you")
    assert _refusal(lambda: check_answer(**{**served, "answered_choice": 4}, round_number=2, token="tok",
                                         choice=5)) == ("conflict", "round 2 was already answered with another choice")


def test_response_times_from_zero_to_just_under_a_day() -> None:
    for ms in (0, 0.0, 0.5, 86_399_999.9):
        assert parse_response_ms(ms) == float(ms)


# --------------------------------------------------------------------------------------------- restart

def test_last_activity_is_the_latest_trial_whatever_their_order() -> None:
    trials = [TrialRow("ann", "main", 0, False, False, 500.0), TrialRow("ann", "main", 1, False, True, 100.0, "g1")]
    votes, holds = derive_allocation(2, trials)
    assert votes == [0, 1] and holds == {"ann": [[0], 500.0]}


# ------------------------------------------------------------------------------- the live state between messages

def test_the_live_state_is_kept_per_session_code_and_dropped_on_a_failed_transaction() -> None:
    """session_state's process cache: each session's state under its own code; ``forget`` (a failed transaction)
    drops only that session's, so its next message rebuilds it from the trials, and forgetting twice is harmless."""
    from study_app import session_state
    from study_app.session_state import SessionState

    def state(code: str) -> SessionState:
        return SessionState(code=code, settings=None, base_url="", bundle="", fingerprint="",  # type: ignore[arg-type]
                            practice_targets=[], votes=[0, 0])
    a, b = state("sess-a"), state("sess-b")
    try:
        assert session_state.put(a) is a and session_state.put(b) is b
        assert session_state.get("sess-a") is a and session_state.get("sess-b") is b
        assert session_state.get("sess-c") is None
        session_state.forget("sess-a")
        assert session_state.get("sess-a") is None and session_state.get("sess-b") is b
        session_state.forget("sess-a")  # already gone: no error
        assert session_state.get("sess-b") is b
    finally:
        session_state.forget("sess-a")
        session_state.forget("sess-b")


def test_disagreement_of_an_empty_tally_is_false() -> None:
    assert allocation.disagreement([]) is False
    assert allocation.disagreement([2, 0, 0]) is False and allocation.disagreement([2, 1, 0]) is True
