"""Condition names: the one rule for a condition's canonical spec string (docs/contracts.md addendum).

A condition is what was done to a clean target before anyone judged it. Its name is its canonical spec string: the
kind, then ``:`` and its parameters as ``key=value`` joined by ``,`` in sorted key order, numbers written the shortest
way that round-trips::

    clean   mirror   jpeg:q=50   blur:k=5   noise:var=0.01   crop:min=0.9   fgsm-image:eps=0.03

Numbers: a value that is an integer (``50``, ``5.0``, ``5e1``) is written as an integer (``50``); any other number
as the shortest digits that read back to the same double, as Python's ``repr`` writes them (positional for
1e-4 <= |x| < 1e16, else exponent notation), the exponent without ``+`` or leading zeros: ``0.01``, ``0.9``,
``0.0001``, ``1e-5``, ``2.5e-7``. Non-numeric values are
short tokens of letters, digits, ``.``, ``_`` or ``-`` (for example a generator id) and are kept as written.

:func:`parse_condition` reads a spec as a user types it (spaces around tokens tolerated, any key order) and
:func:`format_condition` writes the canonical name; ``format_condition(*parse_condition(s))`` is the canonical
form of ``s``, and :func:`canonical_condition` is that composition. This module checks *syntax* only; which kinds
exist and which parameter values they accept is the pipeline's registry
(:mod:`reconstruction_pipeline.conditions`). A built bundle's manifest says each condition's category; for code that
writes bundles without the pipeline (test fixtures, the analysis's simulator: no torch) :func:`builtin_category`
names the category of the kinds the pipeline ships, from :data:`PERTURBATION_KINDS` and :data:`ATTACK_KINDS` -- a
copy of the registry's, which tests/pipeline/test_attacks_conditions.py holds equal to it. Standard library only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Union

CLEAN = "clean"
KINDS: tuple[str, ...] = ("clean", "perturbation", "attack")
# The spec kinds the pipeline's registry ships, by category (see the module docstring; a plugin may add more).
PERTURBATION_KINDS: tuple[str, ...] = ("jpeg", "webp", "blur", "noise", "mirror", "crop", "rotate", "zoom")
ATTACK_KINDS: tuple[str, ...] = ("fgsm-seed", "fgsm-image", "fgm-image", "cw-image", "evade", "frame",
                                 "clf-fgsm", "clf-pgd", "clf-pgdl2", "clf-cw")

ParamValue = Union[int, float, str]

_KIND = re.compile(r"^[a-z][a-z0-9_-]*$")
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class ConditionSpecError(ValueError):
    """A condition spec that cannot be read; the message is one line naming the problem."""


@dataclass(frozen=True)
class Condition:
    """One condition of a bundle, as in the manifest's ``conditions`` list.

    name: canonical spec string; kind: ``clean`` | ``perturbation`` | ``attack`` (the *category*; the spec's own
    kind, e.g. ``jpeg``, is :attr:`spec_kind`); params: the spec's parameters (numbers as int or float).
    """

    name: str
    kind: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)

    @property
    def spec_kind(self) -> str:
        return self.name.split(":", 1)[0]

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind, "params": dict(self.params)}


CLEAN_CONDITION = Condition(CLEAN, CLEAN, {})


def format_number(value: int | float) -> str:
    """The shortest text that reads back to ``value`` (integers as integers; see the module docstring)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConditionSpecError(f"{value!r} is not a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConditionSpecError(f"{value!r}: parameters must be finite numbers")
        if value.is_integer() and abs(value) < 2**53:
            value = int(value)
        else:
            return _shortest_float(value)
    return str(int(value))


def _shortest_float(value: float) -> str:
    # Python's repr: the shortest digits that read back to the same double, positional for 1e-4 <= |x| < 1e16;
    # the exponent written without '+' and leading zeros (1e-05 -> 1e-5)
    text = repr(value)
    if "e" in text:
        mantissa, exp = text.split("e")
        text = f"{mantissa}e{int(exp)}"
    assert float(text) == value, (value, text)
    return text


def _parse_value(kind: str, key: str, text: str) -> ParamValue:
    if _NUMBER.match(text):
        v = float(text)
        if not math.isfinite(v):
            raise ConditionSpecError(f"condition {kind!r}: {key}={text} is not a finite number")
        if v.is_integer() and abs(v) < 2**53:
            return int(v)
        return v
    if _TOKEN.match(text):
        try:
            float(text)
        except ValueError:
            return text
        raise ConditionSpecError(f"condition {kind!r}: {key}={text} is not a finite number")
    raise ConditionSpecError(f"condition {kind!r}: value {text!r} of {key!r} must be a number or a token of letters, "
                             "digits, '.', '_' or '-'")


def parse_condition(spec: str) -> tuple[str, dict[str, ParamValue]]:
    """``"jpeg: q=50"`` -> ``("jpeg", {"q": 50})``. Raises :class:`ConditionSpecError` (one line) on bad syntax."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConditionSpecError("empty condition spec; write e.g. clean, mirror or jpeg:q=50")
    kind, sep, rest = spec.strip().partition(":")
    kind = kind.strip()
    if not _KIND.match(kind):
        raise ConditionSpecError(f"condition {spec!r}: kind {kind!r} must be lower-case letters, digits, '-' or '_', "
                                 "starting with a letter (e.g. jpeg, mirror, fgsm-image)")
    params: dict[str, ParamValue] = {}
    if sep:
        if not rest.strip():
            raise ConditionSpecError(f"condition {spec!r}: nothing after ':'; write {kind} or {kind}:key=value")
        for part in rest.split(","):
            key, eq, value = part.partition("=")
            key, value = key.strip(), value.strip()
            if not eq or not value:
                raise ConditionSpecError(f"condition {spec!r}: parameter {part.strip()!r} must be key=value")
            if not _KEY.match(key):
                raise ConditionSpecError(f"condition {spec!r}: parameter name {key!r} must be lower-case letters, "
                                         "digits or '_', starting with a letter")
            if key in params:
                raise ConditionSpecError(f"condition {spec!r}: parameter {key!r} given twice")
            params[key] = _parse_value(kind, key, value)
    return kind, params


def format_condition(kind: str, params: Mapping[str, ParamValue] | None = None) -> str:
    """The canonical name: ``format_condition("jpeg", {"q": 50.0})`` -> ``"jpeg:q=50"``."""
    if not _KIND.match(kind):
        raise ConditionSpecError(f"condition kind {kind!r} must be lower-case letters, digits, '-' or '_'")
    parts = []
    for key in sorted(params or {}):
        value = (params or {})[key]
        if not _KEY.match(key):
            raise ConditionSpecError(f"condition {kind!r}: parameter name {key!r} is not valid")
        if isinstance(value, str):
            if _parse_value(kind, key, value) != value:
                raise ConditionSpecError(f"condition {kind!r}: value {value!r} of {key!r} is not a valid token")
            parts.append(f"{key}={value}")
        else:
            parts.append(f"{key}={format_number(value)}")
    return kind + (":" + ",".join(parts) if parts else "")


def builtin_category(spec: str) -> str:
    """The manifest ``kind`` of a built-in condition: ``clean``, ``perturbation`` or ``attack``
    (``builtin_category("evade:l2=1")`` -> ``"attack"``). Raises :class:`ConditionSpecError` for a kind the pipeline
    does not ship."""
    kind, _ = parse_condition(spec)
    if kind == CLEAN:
        return CLEAN
    if kind in PERTURBATION_KINDS:
        return "perturbation"
    if kind in ATTACK_KINDS:
        return "attack"
    raise ConditionSpecError(f"condition {spec.strip()!r}: {kind!r} is not a built-in condition kind (perturbations: "
                             f"{', '.join(PERTURBATION_KINDS)}; attacks: {', '.join(ATTACK_KINDS)})")


def canonical_condition(spec: str) -> str:
    """The canonical name of a spec as typed: ``"jpeg: q=50.0"`` -> ``"jpeg:q=50"``."""
    return format_condition(*parse_condition(spec))

