"""Which target a participant sees next: pure functions over plain lists and dicts (no oTree, no I/O).

The per-session state lives in two plain values that the app keeps in the server process (study_app/session_state.py,
derived from the served trials and rebuilt from them after a restart; read and written under oTree's global lock,
so concurrent requests see one consistent state):

- ``votes``: list of answered, non-placebo votes per target index;
- ``holds``: participant code -> ``[[target indices served but not answered], last_active_unix_s]``.

A target's *load* is its votes plus the holds on it. A hold whose participant has been inactive longer than
the dropout timeout is released (the participant "dropped out"), so its targets return to the pool; if that
participant comes back, the app re-registers their holds and their answers still count.

Modes: ``balanced`` (default) serves an unseen target of least load, ties broken by the rng; ``random`` (the
paper) serves an unseen target uniformly at random; ``dynamic`` (dynamic overlap) serves only targets whose
majority-of-k is not yet settled (:func:`settled`), those with disagreement first, then those closest to settling
(:func:`choose_dynamic`); it needs each target's ``tallies`` (answered non-placebo votes per generator, in
generator-id sort order). Placebo rounds (balanced and dynamic) take an unseen target of *largest* load, so they
do not spend a scarce target.

This module is the one place of the settling rule: the app, the analysis (``analysis.votes``) and the simulations
(``analysis.plan``, ``bench/dynamic_overlap.py``) all call :func:`settled`. It must stay pure and import only the
standard library: the analysis loads it by file path (``analysis.app_rules``), since importing the ``study_app``
package starts oTree. Randomness is an argument: the app seeds one ``random.Random`` per
(session, participant, round), so a choice depends only on that seed and the state.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Iterable, Mapping, MutableMapping, Sequence
from typing import Literal

Mode = Literal["balanced", "random", "dynamic"]
MODES: tuple[str, ...] = ("balanced", "random", "dynamic")
Holds = MutableMapping[str, list]  # pcode -> [list[int] target indices, float last_active]


def loads(votes: Sequence[int], holds: Mapping[str, list]) -> list[int]:
    """Votes plus live holds per target index."""
    out = list(votes)
    for targets, _ in holds.values():
        for t in targets:
            out[t] += 1
    return out


def release_dropouts(holds: Holds, *, now: float, timeout_s: float) -> list[str]:
    """Remove (in place) the holds of participants inactive for more than ``timeout_s``; return their codes."""
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
    gone = [code for code, (_, last) in holds.items() if now - last > timeout_s]
    for code in gone:
        del holds[code]
    return gone


def set_hold(holds: Holds, code: str, targets: Iterable[int], *, now: float) -> None:
    """Record (replacing any previous) the targets ``code`` has been served and not yet answered."""
    targets = list(targets)
    if targets:
        holds[code] = [targets, now]
    else:
        holds.pop(code, None)


def choose_target(load: Sequence[int], *, exclude: Collection[int], rng: random.Random, mode: str = "balanced",
                  prefer: str = "least", tallies: Sequence[Sequence[int]] | None = None,
                  k: int | None = None) -> int | None:
    """The target index to serve next, or None when every target is excluded.

    ``exclude``: targets this participant has already been served plus any reserved ones (practice pool).
    ``prefer='most'`` (used for placebo rounds in balanced and dynamic mode) picks among the most-loaded instead.
    ``tallies`` and ``k`` (votes per target): required by ``dynamic`` mode.
    """
    if mode not in MODES:
        raise ValueError(f"allocation mode {mode!r} unknown; use one of {', '.join(MODES)}")
    if prefer not in ("least", "most"):
        raise ValueError(f"prefer must be 'least' or 'most', got {prefer!r}")
    candidates = [i for i in range(len(load)) if i not in exclude]
    if not candidates:
        return None
    if mode == "random":
        return rng.choice(candidates)
    if mode == "dynamic" and prefer == "least":
        if tallies is None or k is None:
            raise ValueError("dynamic allocation needs the tallies and k")
        return choose_dynamic(load, candidates, tallies=tallies, k=k, rng=rng)
    best = min(load[i] for i in candidates) if prefer == "least" else max(load[i] for i in candidates)
    return rng.choice([i for i in candidates if load[i] == best])


def participants_needed(*, votes_per_target: int, n_targets: int, answers_per_participant: int) -> int:
    """The floor any allocation needs: ceil(k * targets / answers per participant)."""
    if answers_per_participant < 1:
        raise ValueError(f"answers_per_participant must be >= 1, got {answers_per_participant}")
    return math.ceil(votes_per_target * n_targets / answers_per_participant)


# --------------------------------------------------------------------------------------- dynamic overlap


def leader(counts: Sequence[int]) -> int:
    """Index of the majority answer: the most votes, ties to the lowest index (with ``counts`` in generator-id sort
    order this is the contract's tie rule: the lowest generator id)."""
    if not counts:
        raise ValueError("counts must name at least one answer")
    return max(range(len(counts)), key=lambda i: (counts[i], -i))


def settled(counts: Sequence[int], k: int) -> bool:
    """Is the majority of ``k`` votes already decided by the votes so far (``counts`` per answer, sort order)?

    True once ``k`` votes are in (more only sharpen it), or when no way of casting the ``k - n`` remaining votes
    lets another answer overtake the leader or tie it and win the tie (lower index): for k = 3, two agreeing
    votes settle it; 1-1 does not; 1-1-1 is settled at k (the tie goes to the lowest id, as in a full study).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n = sum(counts)
    if n >= k:
        return True
    top = leader(counts)
    r = k - n
    return all(c + r < counts[top] or (c + r == counts[top] and top < g)
               for g, c in enumerate(counts) if g != top)


def votes_to_settle(counts: Sequence[int], k: int) -> int:
    """The fewest further votes that can settle ``counts`` (all of them for the leader; with no vote yet, for the
    answer that needs most: the highest index). 0 when settled."""
    c = list(counts)
    top = leader(c) if sum(c) else len(c) - 1
    m = 0
    while not settled(c, k):
        c[top] += 1
        m += 1
    return m


def disagreement(counts: Sequence[int]) -> bool:
    """Some vote went to another answer than the leader."""
    return sum(counts) > counts[leader(counts)] if counts else False


def margin(counts: Sequence[int]) -> int:
    """The leader's votes minus the runner-up's."""
    top = sorted(counts, reverse=True)
    return top[0] - (top[1] if len(top) > 1 else 0)


_KEY_BASE = 1 << 20  # key digits: above any load, vote count or margin of a real study


class _TallyInfo(dict[tuple[int, ...], tuple[int, int, int]]):
    """tally -> (cap, disagreement weight, margin): computed once per distinct tally, since the dynamic choice
    looks at every unseen target on every serve, under oTree's global lock. ``cap`` = votes + votes to settle:
    the load below which the target is still open."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def __missing__(self, counts: tuple[int, ...]) -> tuple[int, int, int]:
        value = (votes_to_settle(counts, self.k) + sum(counts), 0 if disagreement(counts) else _KEY_BASE * _KEY_BASE,
                 margin(counts))
        if len(self) < 65536:
            self[counts] = value
        return value


_INFO: dict[int, _TallyInfo] = {}


def open_need(tallies: Sequence[int], load: int, k: int) -> int:
    """Votes a target still needs beyond those already served and unanswered (``load - sum(tallies)`` holds)."""
    return votes_to_settle(tallies, k) - (load - sum(tallies))


def choose_dynamic(load: Sequence[int], candidates: Sequence[int], *, tallies: Sequence[Sequence[int]], k: int,
                   rng: random.Random) -> int:
    """Dynamic overlap among ``candidates`` (non-empty, the participant's unseen targets).

    Open targets (not settled, and not every needed vote already being answered by someone) come first: those
    with disagreement, then the fewest votes still needed, then the least load; ties by the rng. When none is
    open to this participant (all settled, or seen), the least settled target (smallest leader margin, then
    least load) gets the extra vote: where voters disagree most.
    """
    # one integer key per open target, dis * B^2 + (votes still needed) * B + load, from cached per-tally facts
    info = _INFO.get(k) or _INFO.setdefault(k, _TallyInfo(k))
    b = _KEY_BASE
    facts = [info[tuple(tallies[t])] for t in candidates]
    keyed = [(f[1] + (f[0] - load[t]) * b + load[t], t) for t, f in zip(candidates, facts) if f[0] > load[t]]
    if not keyed:
        keyed = [(f[2] * b + load[t], t) for t, f in zip(candidates, facts)]
    best = min(keyed)[0]
    return rng.choice([t for key, t in keyed if key == best])
