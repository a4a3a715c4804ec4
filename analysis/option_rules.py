"""The rules on the analysis' options, each stated once. A rule takes a value, returns it if allowed and raises
``ValueError("must be ..., got ...")`` otherwise; the library names the option (:func:`checked`: ``"min_votes must
be >= 1, got 0"``) and the command line's argument types (``analysis.cli``, ``analysis.plan``) show the same message
after the flag (``--min-votes: must be >= 1, got 0``).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T", int, float)


def fraction(value: float) -> float:
    """A share or probability: in [0, 1]."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"must be in [0, 1], got {value}")
    return value


def positive_fraction(value: float) -> float:
    """A share that cannot be 0 (a participant's accuracy): in (0, 1]."""
    if not 0.0 < value <= 1.0:
        raise ValueError(f"must be in (0, 1], got {value}")
    return value


def amount(value: float) -> float:
    """Money: finite and >= 0."""
    if not value >= 0 or math.isinf(value):
        raise ValueError(f"must be a non-negative amount, got {value}")
    return value


def at_least(minimum: int) -> Callable[[int], int]:
    """A count of at least ``minimum``."""
    def rule(value: int) -> int:
        if value < minimum:
            raise ValueError(f"must be >= {minimum}, got {value}")
        return value
    return rule


def checked(name: str, rule: Callable[[T], T], value: T) -> T:
    """``rule(value)``, its error naming the option: ``"{name} must be ..."``."""
    try:
        return rule(value)
    except ValueError as e:
        raise ValueError(f"{name} {e}") from None


def argument(rule: Callable[[T], T], value: T) -> T:
    """``rule(value)`` inside an argparse argument type: its error as ArgumentTypeError (one line after the flag)."""
    try:
        return rule(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def argument_type(convert: Callable[[str], T], expected: str, rule: Callable[[T], T]) -> Callable[[str], T]:
    """An argparse argument type: the text converted (failing: ``"must be {expected}, got 'text'"``), then ``rule``
    (:func:`argument`): one line after the flag either way."""
    def parse(text: str) -> T:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}") from None
        return argument(rule, value)
    parse.__name__ = expected
    return parse


def fraction_type() -> Callable[[str], float]:
    return argument_type(float, "a number in [0, 1]", fraction)


def positive_fraction_type() -> Callable[[str], float]:
    return argument_type(float, "a number in [0, 1]", lambda v: positive_fraction(fraction(v)))


def amount_type() -> Callable[[str], float]:
    return argument_type(float, "a non-negative amount", amount)


def int_at_least_type(minimum: int) -> Callable[[str], int]:
    return argument_type(int, f"an integer >= {minimum}", at_least(minimum))


def rounds_fit_targets(rounds: int, n_targets: int) -> None:
    """A participant never sees a target twice, so a study of ``rounds`` rounds needs that many targets."""
    if rounds > n_targets:
        raise ValueError(f"{rounds} rounds need at least that many targets (got {n_targets}): a participant never "
                         "sees a target twice")
