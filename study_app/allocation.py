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
paper) serves an unseen target uniformly at random. Placebo rounds take an unseen target of *largest* load, so
they do not spend a scarce target. Randomness is an argument: the app seeds one ``random.Random`` per
(session, participant, round), so a choice depends only on that seed and the state.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Iterable, Mapping, MutableMapping, Sequence
from typing import Literal

Mode = Literal["balanced", "random"]
MODES: tuple[str, ...] = ("balanced", "random")
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
                  prefer: str = "least") -> int | None:
    """The target index to serve next, or None when every target is excluded.

    ``exclude``: targets this participant has already been served plus any reserved ones (practice pool).
    ``prefer='most'`` (used for placebo rounds in balanced mode) picks among the most-loaded instead.
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
    best = min(load[i] for i in candidates) if prefer == "least" else max(load[i] for i in candidates)
    return rng.choice([i for i in candidates if load[i] == best])


def participants_needed(*, votes_per_target: int, n_targets: int, answers_per_participant: int) -> int:
    """The floor any allocation needs: ceil(k * targets / answers per participant)."""
    if answers_per_participant < 1:
        raise ValueError(f"answers_per_participant must be >= 1, got {answers_per_participant}")
    return math.ceil(votes_per_target * n_targets / answers_per_participant)
