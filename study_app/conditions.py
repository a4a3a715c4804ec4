"""Conditions in the study (docs/contracts.md, conditions addendum): which targets a participant may still be served.

Pure functions over per-target-index tuples (no oTree, no I/O). They only *exclude* targets; the allocation policy
(study_app/allocation.py: balanced, random, ...) then picks among what is left, so every policy keeps these rules:

- a participant never sees two targets with the same ``source_target`` (no memory of the clean version):
  :func:`same_source`;
- within a participant, non-practice rounds are spread over the conditions evenly (counts differ by at most one):
  :func:`off_balance` leaves only the conditions this participant has been served least often;
- practice rounds use ``clean`` targets only: :func:`practice_pool`.

Balanced allocation needs nothing here: it counts votes per target index, and each (source, condition) pair is a
target of its own. A placebo round's copies row is the target's own display image, so it repeats the target as
shown (perturbed when the target is).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence


def same_source(source_of: Sequence[int], members: Sequence[Sequence[int]], seen: Iterable[int]) -> set[int]:
    """Every target index that shares a source with a target in ``seen`` (the seen ones included).

    ``source_of[i]``: the source index of target ``i``; ``members[s]``: the target indices of source ``s``.
    """
    out: set[int] = set()
    for s in {source_of[t] for t in seen}:
        out.update(members[s])
    return out


def condition_counts(condition_of: Sequence[int], n_conditions: int, served: Iterable[int]) -> list[int]:
    """How many of the ``served`` targets are of each condition (by condition index)."""
    counts = [0] * n_conditions
    for t in served:
        counts[condition_of[t]] += 1
    return counts


def off_balance(condition_of: Sequence[int], counts: Sequence[int], available: Collection[int]) -> set[int]:
    """The ``available`` targets whose condition is *not* among the least-served conditions that still have an
    available target; excluding them keeps a participant's counts within one of each other.

    A condition with no available target left (a bundle that lacks some (source, condition) pairs) is skipped,
    so a round can always be served when any target is available.
    """
    present = {condition_of[i] for i in available}
    if len(present) <= 1:
        return set()
    low = min(counts[c] for c in present)
    return {i for i in available if counts[condition_of[i]] != low}


def practice_pool(condition_of: Sequence[int], clean: int | None) -> list[int]:
    """The target indices practice rounds may use: the ``clean`` ones (``clean``: the clean condition's index,
    None when the bundle has no clean condition, then no practice is possible)."""
    if clean is None:
        return []
    return [i for i, c in enumerate(condition_of) if c == clean]


def main_exclusions(*, source_of: Sequence[int], members: Sequence[Sequence[int]], condition_of: Sequence[int],
                    n_conditions: int, seen: Collection[int], reserved: Collection[int]) -> set[int]:
    """Every target a participant must not be served in a main round: ``reserved`` ones (the session's practice
    pool), every target of a source they have seen (any phase), and those off the per-participant condition
    balance. Main rounds served so far are the seen targets outside ``reserved``."""
    reserved = set(reserved)
    excluded = reserved | same_source(source_of, members, seen)
    if n_conditions > 1:
        counts = condition_counts(condition_of, n_conditions, (t for t in seen if t not in reserved))
        available = [i for i in range(len(condition_of)) if i not in excluded]
        excluded |= off_balance(condition_of, counts, available)
    return excluded
