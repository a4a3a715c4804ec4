"""The condition registry: every kind of condition a build can apply to its clean targets, by name.

A condition spec (``jpeg:q=50``, ``mirror``, ``fgsm-image:eps=0.03``) names a *kind* (``jpeg``) and its parameters;
its canonical form is the condition's name in the bundle (one rule: :mod:`contracts.conditions`). Each kind belongs
to a category, the manifest's ``kind``: ``clean``, ``perturbation`` or ``attack``.

Registering a new kind (perturbations here; attacks from their own module)::

    from reconstruction_pipeline.conditions import ConditionKind, Param, register

    def _apply(images, seeds, params, ctx):
        # images: [N, 3, H, W] in [-1, 1] on ctx.device -- the clean targets, one row per target;
        # seeds:  N integers, one per target (derive_seed of the build seed, the source target and the condition
        #         name): draw all randomness from torch.Generator().manual_seed(seed) per row, never globally;
        # params: the validated parameters, e.g. {"eps": 0.03};
        # ctx:    ConditionContext: device, the candidate generators by id, each row's true generator and source
        #         target id, the build's distance (an attack may use them; a perturbation ignores them).
        # returns [N, 3, H, W] in [-1, 1], same device and dtype; row i may depend only on row i and seeds[i].
        ...

    register(ConditionKind(name="fgsm-image", category="attack", apply=_apply,
                           params=(Param("eps", float, lo=0, hi=1, lo_open=True),),
                           summary="FGSM in image space ..."))

``register`` refuses a name that is taken (pass ``replace=True`` to override it on purpose), a category other than
``perturbation`` or ``attack`` and a name that is not a valid spec kind. A module that registers kinds must be
imported before specs are parsed: add it to :data:`PLUGIN_MODULES` (imported on first use, a missing one is
skipped), or import it yourself. Presets (``paper``) name a list of specs: :func:`register_preset`.

:func:`resolve` turns a typed spec into a :class:`ResolvedCondition` (canonical :class:`contracts.conditions.Condition`
plus its kind), checking every parameter (missing, unknown, wrong type, out of range) with one clear line;
:func:`parse_condition_list` reads the ``--conditions`` option (comma-separated specs and presets, where a
``key=value`` without a kind continues the previous spec's parameters: ``clean,pgd:eps=0.03,steps=10,mirror``);
:func:`apply_condition` applies one to a batch.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from contracts.conditions import (CLEAN, CLEAN_CONDITION, Condition, ConditionSpecError, ParamValue,
                                  format_condition, parse_condition)
from reconstruction_pipeline import perturbations as P

CATEGORIES = ("perturbation", "attack")
# modules that register kinds when imported (the attack kinds live outside this module)
PLUGIN_MODULES: list[str] = ["reconstruction_pipeline.attacks"]


class ConditionError(ValueError):
    """A condition spec that is unknown or has bad parameters; the message is one line."""


@dataclass(frozen=True)
class ConditionContext:
    """What an ``apply`` may use besides the images: ``device``; ``generators`` (candidate id -> generator);
    ``true_generators`` and ``source_targets`` (one per row); ``distance`` (the build's
    :class:`~reconstruction_pipeline.distances.Distance`, or None)."""

    device: torch.device
    generators: Mapping[str, object] = field(default_factory=dict)
    true_generators: tuple[str, ...] = ()
    source_targets: tuple[str, ...] = ()
    distance: object | None = None
    target_seeds: tuple[int, ...] = ()  # each row's integer target seed (seed-space attacks), when known


ApplyFn = Callable[[torch.Tensor, Sequence[int], Mapping[str, ParamValue], ConditionContext], torch.Tensor]


@dataclass(frozen=True)
class Param:
    """One parameter: ``type`` int or float (an int is accepted for a float), inclusive bounds unless ``*_open``;
    ``check`` returns a problem text or None (e.g. "must be odd")."""

    name: str
    type: type
    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False
    check: Callable[[float], str | None] | None = None

    def describe(self) -> str:
        lo = "(" if self.lo_open else "["
        hi = ")" if self.hi_open else "]"
        kind = "an integer" if self.type is int else "a number"
        return f"{kind} in {lo}{_num(self.lo)}, {_num(self.hi)}{hi}"

    def validate(self, kind: str, value: ParamValue) -> ParamValue:
        ok_type = isinstance(value, int) if self.type is int else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type:
            raise ConditionError(f"condition {kind!r}: {self.name}={value} must be {self.describe()}")
        v = float(value)
        if (v < self.lo or v > self.hi or (self.lo_open and v == self.lo) or (self.hi_open and v == self.hi)):
            raise ConditionError(f"condition {kind!r}: {self.name}={value} must be {self.describe()}")
        if self.check is not None:
            problem = self.check(v)
            if problem:
                raise ConditionError(f"condition {kind!r}: {self.name}={value} {problem}")
        return value


def _num(v: float) -> str:
    return "inf" if v == math.inf else "-inf" if v == -math.inf else format_condition("x", {"v": v})[4:]


@dataclass(frozen=True)
class ConditionKind:
    """A registered kind: ``name`` (the spec's kind), ``category`` (``perturbation`` | ``attack``), ``apply``,
    its ``params`` (all required) and a one-line ``summary`` for ``--help`` and the docs."""

    name: str
    category: str
    apply: ApplyFn
    params: tuple[Param, ...] = ()
    summary: str = ""

    def validate(self, params: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
        known = {p.name: p for p in self.params}
        unknown = sorted(set(params) - set(known))
        if unknown:
            allowed = ", ".join(known) or "none"
            raise ConditionError(f"condition {self.name!r}: unknown parameter {unknown[0]!r} (parameters: {allowed})")
        missing = [p for p in known if p not in params]
        if missing:
            raise ConditionError(f"condition {self.name!r}: missing parameter {missing[0]!r}; write "
                                 f"{self.usage()}")
        return {k: known[k].validate(self.name, params[k]) for k in sorted(params)}

    def usage(self) -> str:
        if not self.params:
            return self.name
        return self.name + ":" + ",".join(f"{p.name}=..." for p in self.params) + \
            " (" + "; ".join(f"{p.name} {p.describe()}" for p in self.params) + ")"


@dataclass(frozen=True)
class ResolvedCondition:
    """A validated condition: its canonical :class:`~contracts.conditions.Condition` and its kind (None = clean)."""

    condition: Condition
    kind: ConditionKind | None

    @property
    def name(self) -> str:
        return self.condition.name


_REGISTRY: dict[str, ConditionKind] = {}
_PRESETS: dict[str, tuple[str, ...]] = {}
_plugins_loaded = False


def register(kind: ConditionKind, *, replace: bool = False) -> ConditionKind:
    """Add a kind to the registry (see the module docstring). Returns it, so it can decorate-by-call."""
    try:
        spec_kind, params = parse_condition(kind.name)
    except ConditionSpecError as e:
        raise ValueError(f"cannot register {kind.name!r}: {e}") from None
    if params or spec_kind != kind.name or kind.name == CLEAN:
        raise ValueError(f"cannot register {kind.name!r}: a kind name is a bare spec kind, not {CLEAN!r}")
    if kind.category not in CATEGORIES:
        raise ValueError(f"cannot register {kind.name!r}: category must be one of {', '.join(CATEGORIES)}")
    if (kind.name in _REGISTRY or kind.name in _PRESETS) and not replace:
        raise ValueError(f"condition kind {kind.name!r} is already registered (replace=True to override it)")
    _REGISTRY[kind.name] = kind
    return kind


def register_preset(name: str, specs: Sequence[str], *, replace: bool = False) -> None:
    """A name that expands to several specs in ``--conditions`` (each checked when the preset is used)."""
    if (name in _PRESETS or name in _REGISTRY or name == CLEAN) and not replace:
        raise ValueError(f"{name!r} is already a condition kind or preset")
    _PRESETS[name] = tuple(specs)


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in PLUGIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name is None or not module.startswith(e.name):
                raise


def kinds() -> dict[str, ConditionKind]:
    """Registered kinds by name (a copy)."""
    _load_plugins()
    return dict(_REGISTRY)


def presets() -> dict[str, tuple[str, ...]]:
    _load_plugins()
    return dict(_PRESETS)


def resolve(spec: str) -> ResolvedCondition:
    """A typed spec -> its validated, canonical condition. Raises :class:`ConditionError` (one line)."""
    _load_plugins()
    try:
        name, params = parse_condition(spec)
    except ConditionSpecError as e:
        raise ConditionError(str(e)) from None
    if name == CLEAN:
        if params:
            raise ConditionError(f"condition {CLEAN!r} takes no parameters, got {spec!r}")
        return ResolvedCondition(CLEAN_CONDITION, None)
    if name in _PRESETS:
        raise ConditionError(f"{name!r} is a preset of several conditions; use it in --conditions on its own")
    kind = _REGISTRY.get(name)
    if kind is None:
        known = ", ".join(sorted([CLEAN, *_REGISTRY]))
        raise ConditionError(f"unknown condition kind {name!r} in {spec.strip()!r} (known: {known}; presets: "
                             f"{', '.join(sorted(_PRESETS)) or 'none'})")
    valid = kind.validate(params)
    return ResolvedCondition(Condition(format_condition(name, valid), kind.category, valid), kind)


def split_condition_list(text: str) -> list[str]:
    """``"clean,pgd:eps=0.03,steps=10,mirror"`` -> ``["clean", "pgd:eps=0.03,steps=10", "mirror"]``: a part with
    ``=`` and no ``:`` continues the previous spec's parameters."""
    out: list[str] = []
    for part in text.split(","):
        part = part.strip()
        if "=" in part and ":" not in part and out and ":" in out[-1]:
            out[-1] += "," + part
        else:
            out.append(part)
    return out


def parse_condition_list(text: str) -> tuple[ResolvedCondition, ...]:
    """The ``--conditions`` option: specs and presets, comma-separated, in build order; duplicates refused."""
    _load_plugins()
    if not text or not text.strip():
        raise ConditionError("--conditions is empty; give e.g. clean,jpeg:q=50,mirror or paper")
    out: list[ResolvedCondition] = []
    for part in split_condition_list(text):
        if not part:
            raise ConditionError(f"--conditions {text!r}: empty entry (two commas in a row?)")
        specs = _PRESETS.get(part, (part,))
        for spec in specs:
            rc = resolve(spec)
            if any(o.name == rc.name for o in out):
                raise ConditionError(f"--conditions: condition {rc.name!r} is given twice")
            out.append(rc)
    return tuple(out)


def apply_condition(rc: ResolvedCondition, images: torch.Tensor, seeds: Sequence[int],
                    ctx: ConditionContext) -> torch.Tensor:
    """``images`` [N, 3, H, W] in [-1, 1] under the condition (clean: returned unchanged), on ``ctx.device``."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images: expected [N, 3, H, W], got {tuple(images.shape)}")
    if len(seeds) != images.shape[0]:
        raise ValueError(f"{len(seeds)} seeds for {images.shape[0]} images")
    x = images.to(ctx.device)
    if rc.kind is None:
        return x
    out = rc.kind.apply(x, seeds, rc.condition.params, ctx)
    if out.shape != x.shape:
        raise RuntimeError(f"condition {rc.name!r} returned shape {tuple(out.shape)} for {tuple(x.shape)}")
    return out.clamp(-1, 1)


# ----------------------------------------------------------------------------------------- built-in kinds


def _odd(v: float) -> str | None:
    return None if int(v) % 2 == 1 else "must be odd"


def _perturbation(name: str, apply: ApplyFn, params: tuple[Param, ...], summary: str) -> None:
    register(ConditionKind(name, "perturbation", apply, params, summary))


_Q = (Param("q", int, 1, 100),)
_perturbation("jpeg", lambda x, s, p, c: P.jpeg(x, quality=int(p["q"])), _Q,
              "JPEG at quality q through Pillow (libjpeg, 4:2:0)")
_perturbation("webp", lambda x, s, p, c: P.webp(x, quality=int(p["q"])), _Q,
              "lossy WebP at quality q through Pillow (libwebp)")
_perturbation("blur", lambda x, s, p, c: P.blur(x, kernel=int(p["k"])), (Param("k", int, 3, 7, check=_odd),),
              "Gaussian blur, k x k kernel (odd 3-7), sigma = 0.3((k-1)/2-1)+0.8")
_perturbation("noise", lambda x, s, p, c: P.noise(x, s, var=float(p["var"])), (Param("var", float, 0, 1),),
              "additive N(0, var) on [0, 1] pixels, clipped")
_perturbation("mirror", lambda x, s, p, c: P.mirror(x), (), "left-right flip")
_perturbation("crop", lambda x, s, p, c: P.crop(x, s, minimum=float(p["min"])),
              (Param("min", float, 0, 1, lo_open=True),),
              "random crop keeping a fraction in [min, 1] of each side, resized back")
_perturbation("rotate", lambda x, s, p, c: P.rotate(x, s, maximum=float(p["max"])), (Param("max", float, 0, 180),),
              "rotation by a uniform angle in [0, max] degrees, reflected border")
_perturbation("zoom", lambda x, s, p, c: P.zoom(x, fraction=float(p["f"])), (Param("f", float, 0, 1, lo_open=True),),
              "centre crop keeping fraction f of each side, resized back")

# The paper's section VI-B: JPEG at 50/70/90/100 (VI-B1) and Table I's six augmentations. Table I's blur drew the
# kernel from 3-7 per image; a spec names one transformation, so the preset fixes the middle one, k = 5.
PAPER_PRESET: tuple[str, ...] = ("jpeg:q=50", "jpeg:q=70", "jpeg:q=90", "jpeg:q=100", "blur:k=5", "noise:var=0.01",
                                 "mirror", "crop:min=0.9", "rotate:max=5", "zoom:f=0.9")
register_preset("paper", PAPER_PRESET)
