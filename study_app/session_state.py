"""What a session's live messages need, kept in the server process between messages, so that an answer neither
reads nor rewrites the session row (its config and a pickled dict that grows with the participants):

- the session's fixed facts (config, bundle, practice targets) are read once per process;
- the allocation state (votes per target, holds) lives here, and is *derived* from the ``Trial`` table: votes are
  the answered non-placebo main rounds, holds the served, unanswered non-placebo main rounds. So the database
  stays the single source of truth: after a restart or a crash the state is rebuilt from the trials (one query),
  and a message whose transaction fails drops the state so that the next one rebuilds it;
- the tallies (answered non-placebo main rounds per target and chosen generator) that ``dynamic`` allocation
  settles targets by, derived from the same rows (:func:`derive_tallies`).

oTree serves a study from one process and runs live methods one at a time under its global lock, so this state is
one consistent view. Keys are session *codes* (random strings), never row ids, which SQLite can reuse after a
session is deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from study_app import allocation
from study_app.config import StudySettings
from study_app.rounds import MAIN


@dataclass
class SessionState:
    code: str
    settings: StudySettings                # the session config, checked when the session was created
    base_url: str                          # where browsers fetch the images
    bundle: str                            # absolute bundle path (session vars)
    fingerprint: str
    practice_targets: list[int]
    votes: list[int]                       # answered non-placebo main rounds per target index
    holds: allocation.Holds = field(default_factory=dict)
    generators: tuple[str, ...] = ()       # generator ids in sort order: the columns of ``tallies``
    tallies: list[tuple[int, ...]] = field(default_factory=list)  # per target: votes per generator (see above)


@dataclass(frozen=True)
class TrialRow:
    """The columns of one served trial that the allocation state is derived from."""
    participant_code: str
    phase: str
    target_index: int
    is_placebo: bool
    answered: bool
    last_time: float                       # the latest of its served/shown/answered times
    chosen_generator: str | None = None    # the answer (None until answered)


def derive_allocation(n_targets: int, trials: Iterable[TrialRow]) -> tuple[list[int], allocation.Holds]:
    """Votes per target and holds (participant -> [unanswered target indices, last active]) from served trials.

    A participant's last activity is the latest time of any of their trials, so a participant who had dropped out
    before a restart is still released after the dropout timeout, and one who was active is not.
    """
    votes = [0] * n_targets
    pending: dict[str, list[int]] = {}
    last: dict[str, float] = {}
    for t in trials:
        last[t.participant_code] = max(last.get(t.participant_code, t.last_time), t.last_time)
        if t.phase != MAIN or t.is_placebo:
            continue
        if t.answered:
            votes[t.target_index] += 1
        else:
            pending.setdefault(t.participant_code, []).append(t.target_index)
    holds: allocation.Holds = {code: [sorted(targets), last[code]] for code, targets in pending.items()}
    return votes, holds


def derive_tallies(n_targets: int, generators: Sequence[str], trials: Iterable[TrialRow]) -> list[tuple[int, ...]]:
    """Answered non-placebo main-round votes per target and generator (``generators`` in sort order), the state
    ``dynamic`` allocation settles targets by; rebuilt from the trials after a restart like the votes."""
    column = {g: j for j, g in enumerate(generators)}
    tallies = [[0] * len(generators) for _ in range(n_targets)]
    for t in trials:
        if t.phase == MAIN and not t.is_placebo and t.answered and t.chosen_generator in column:
            tallies[t.target_index][column[t.chosen_generator]] += 1
    return [tuple(c) for c in tallies]  # tuples: the dynamic choice caches facts per distinct tally


def count_vote(state: SessionState, target: int, chosen_generator: str) -> None:
    """Record one answered non-placebo main-round vote in the live state (votes and tallies)."""
    state.votes[target] += 1
    if state.tallies:
        c = list(state.tallies[target])
        c[state.generators.index(chosen_generator)] += 1
        state.tallies[target] = tuple(c)


_states: dict[str, SessionState] = {}


def get(code: str) -> SessionState | None:
    return _states.get(code)


def put(state: SessionState) -> SessionState:
    _states[state.code] = state
    return state


def forget(code: str) -> None:
    """Drop a session's state (its next message rebuilds it from the database)."""
    _states.pop(code, None)
