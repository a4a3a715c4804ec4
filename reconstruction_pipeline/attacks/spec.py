"""Attack specs (``fgsm-image:eps=0.03``) and the open registry of attack kinds.

A spec is a kind, then ``:`` and ``key=value`` parameters joined by ``,``; its syntax and canonical name (the
condition name of docs/contracts.md addendum) are the one rule of :mod:`contracts.conditions`. An attack kind registers by name with :func:`register_attack`: its parameters (each a type with its own
check), which parameter is the budget, whether it needs the target's seed or the transfer classifier, and the pure
function that runs it (:class:`AttackFn`). Every mistake in a spec is an :class:`AttackError`, one line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from contracts.conditions import ConditionSpecError, ParamValue, format_condition, parse_condition

if TYPE_CHECKING:
    import torch

    from reconstruction_pipeline.attacks.context import AttackBatch, AttackContext


class AttackError(ValueError):
    """A spec or an attack's input is unusable; the message is one line naming the problem and what to do."""


def positive_float(key: str, value: ParamValue) -> float | int:
    """A number > 0, kept as given (an integral value stays an int, as :func:`parse_condition` returns it)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AttackError(f"{key}={value}: not a number")
    if not (math.isfinite(float(value)) and float(value) > 0):
        raise AttackError(f"{key}={value}: a budget must be a finite number > 0 (a zero budget is the `clean` "
                          "condition)")
    return value


def positive_int(key: str, value: ParamValue) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise AttackError(f"{key}={value}: must be an integer >= 1")
    return value


def name_param(key: str, value: ParamValue) -> str:
    if not isinstance(value, str):
        raise AttackError(f"{key}={value}: not a generator id")
    return value


class AttackFn(Protocol):
    def __call__(self, ctx: AttackContext, batch: AttackBatch, params: Mapping[str, ParamValue], *,
                 seed: int) -> AttackOutput: ...


@dataclass(frozen=True)
class AttackOutput:
    """images: [N, 3, H, W] attacked, in [-1, 1]; info: extra per-row columns (e.g. ``seed_linf``, ``framed``)."""

    images: torch.Tensor
    info: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class AttackKind:
    """name: the spec's kind; params: key -> parser; budgets: keys of which exactly one must be given (the budget);
    optional: keys that may be left out (with the attack's default); needs_seed: the target's seed is required
    (seed-space attacks); needs_classifier: the transfer classifier is required; frame_target: the key naming a
    zoo generator (checked against the zoo); summary: one line for --help and the docs."""

    name: str
    params: dict[str, Callable[[str, ParamValue], ParamValue]]
    budgets: tuple[str, ...]
    run: AttackFn
    summary: str
    optional: tuple[str, ...] = ()
    needs_seed: bool = False
    needs_classifier: bool = False
    frame_target: str | None = None


ATTACKS: dict[str, AttackKind] = {}


def register_attack(kind: AttackKind) -> None:
    if kind.name in ATTACKS:
        raise ValueError(f"attack {kind.name!r} is already registered")
    ATTACKS[kind.name] = kind


def attack_names() -> list[str]:
    return sorted(ATTACKS)


@dataclass(frozen=True)
class AttackSpec:
    kind: str
    params: dict[str, ParamValue]

    @property
    def name(self) -> str:
        """The canonical spec string (the condition's name)."""
        return format_condition(self.kind, self.params)

    @property
    def attack(self) -> AttackKind:
        return ATTACKS[self.kind]

    @property
    def budget(self) -> tuple[str, float]:
        """(key, value) of the budget parameter."""
        for k in self.attack.budgets:
            if k in self.params:
                return k, float(self.params[k])  # type: ignore[arg-type]
        raise AssertionError("a parsed spec always has its budget")


def parse_attack(text: str, *, generator_ids: Sequence[str] | None = None) -> AttackSpec:
    """``kind:key=value,...`` -> :class:`AttackSpec`; bad syntax, an unknown kind or key, a missing or non-positive
    budget, or (with ``generator_ids``) a framing target not in the zoo is an :class:`AttackError`."""
    try:
        kind, raw = parse_condition(text)
    except ConditionSpecError as e:
        raise AttackError(str(e)) from None
    spec = AttackSpec(kind, validate_params(kind, raw, text=text.strip()))
    if generator_ids is not None:
        check_against_zoo(spec, generator_ids)
    return spec


def validate_params(kind: str, raw: Mapping[str, ParamValue], *, text: str | None = None) -> dict[str, ParamValue]:
    """The checked parameters of an attack of ``kind`` (values as :func:`contracts.conditions.parse_condition`
    returns them)."""
    text = text or format_condition(kind, raw)
    if kind not in ATTACKS:
        raise AttackError(f"unknown attack {kind!r} in {text!r}; known attacks: {', '.join(attack_names())}")
    ak = ATTACKS[kind]
    params: dict[str, ParamValue] = {}
    for key, value in raw.items():
        if key not in ak.params:
            raise AttackError(f"{text!r}: {kind} takes no parameter {key!r} (it takes {', '.join(sorted(ak.params))})")
        params[key] = ak.params[key](key, value)
    given = [k for k in ak.budgets if k in params]
    if len(given) != 1:
        raise AttackError(f"{text!r}: give exactly one budget ({' or '.join(f'{b}=...' for b in ak.budgets)})")
    missing = [k for k in ak.params if k not in params and k not in ak.budgets and k not in ak.optional]
    if missing:
        raise AttackError(f"{text!r}: {kind} needs {', '.join(f'{k}=...' for k in missing)}")
    return params


def check_against_zoo(spec: AttackSpec, generator_ids: Sequence[str]) -> None:
    key = spec.attack.frame_target
    if key is not None and spec.params.get(key) not in generator_ids:
        raise AttackError(f"{spec.name}: {key}={spec.params.get(key)} is not a generator of this zoo "
                          f"({', '.join(generator_ids)})")
