"""Attack specs (``fgsm-image:eps=0.03``) and the open registry of attack kinds.

A spec is a kind, then ``:`` and ``key=value`` parameters joined by ``,``; its canonical name (the condition name of
``shared/design/conditions.md``) lists the parameters in sorted key order with numbers written the shortest way that
round-trips. An attack kind registers by name with :func:`register_attack`: its parameters (each a type with its own
check), which parameter is the budget, whether it needs the target's seed or the transfer classifier, and the pure
function that runs it (:class:`AttackFn`). Every mistake in a spec is an :class:`AttackError`, one line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch

    from reconstruction_pipeline.attacks.context import AttackBatch, AttackContext


class AttackError(ValueError):
    """A spec or an attack's input is unusable; the message is one line naming the problem and what to do."""


ParamValue = float | int | str


def format_number(v: float | int) -> str:
    """Shortest text that round-trips: ``4`` for 4.0, ``0.03`` for 0.03."""
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e16):
        return str(int(v))
    return repr(float(v))


def positive_float(key: str, text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise AttackError(f"{key}={text}: not a number") from None
    if not (math.isfinite(v) and v > 0):
        raise AttackError(f"{key}={text}: a budget must be a finite number > 0 (a zero budget is the `clean` "
                          "condition)")
    return v


def positive_int(key: str, text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise AttackError(f"{key}={text}: not an integer") from None
    if v < 1:
        raise AttackError(f"{key}={text}: must be an integer >= 1")
    return v


def name_param(key: str, text: str) -> str:
    if not text or any(c in text for c in ",:= "):
        raise AttackError(f"{key}={text!r}: not a generator id")
    return text


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
    params: dict[str, Callable[[str, str], ParamValue]]
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
        if not self.params:
            return self.kind
        parts = [f"{k}={format_number(v) if isinstance(v, int | float) else v}" for k, v in sorted(self.params.items())]
        return f"{self.kind}:{','.join(parts)}"

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
    """``kind:key=value,...`` -> :class:`AttackSpec`; unknown kind or key, a missing or non-positive budget, or (with
    ``generator_ids``) a framing target not in the zoo is an :class:`AttackError`."""
    text = text.strip()
    kind, _, rest = text.partition(":")
    if kind not in ATTACKS:
        raise AttackError(f"unknown attack {kind!r} in {text!r}; known attacks: {', '.join(attack_names())}")
    ak = ATTACKS[kind]
    params: dict[str, ParamValue] = {}
    for part in filter(None, rest.split(",")):
        key, eq, value = part.partition("=")
        if not eq:
            raise AttackError(f"{text!r}: parameter {part!r} is not key=value")
        if key not in ak.params:
            raise AttackError(f"{text!r}: {kind} takes no parameter {key!r} (it takes {', '.join(sorted(ak.params))})")
        if key in params:
            raise AttackError(f"{text!r}: parameter {key!r} given twice")
        params[key] = ak.params[key](key, value)
    given = [k for k in ak.budgets if k in params]
    if len(given) != 1:
        raise AttackError(f"{text!r}: give exactly one budget ({' or '.join(f'{b}=...' for b in ak.budgets)})")
    missing = [k for k in ak.params if k not in params and k not in ak.budgets and k not in ak.optional]
    if missing:
        raise AttackError(f"{text!r}: {kind} needs {', '.join(f'{k}=...' for k in missing)}")
    spec = AttackSpec(kind, params)
    if generator_ids is not None:
        check_against_zoo(spec, generator_ids)
    return spec


def check_against_zoo(spec: AttackSpec, generator_ids: Sequence[str]) -> None:
    key = spec.attack.frame_target
    if key is not None and spec.params.get(key) not in generator_ids:
        raise AttackError(f"{spec.name}: {key}={spec.params.get(key)} is not a generator of this zoo "
                          f"({', '.join(generator_ids)})")
