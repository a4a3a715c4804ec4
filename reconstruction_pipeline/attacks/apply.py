"""Run one attack spec on a batch: the checks every kind shares, in one place."""

from __future__ import annotations

from reconstruction_pipeline.attacks.budget import l2, linf
from reconstruction_pipeline.attacks.context import AttackBatch, AttackContext
from reconstruction_pipeline.attacks.spec import AttackError, AttackOutput, AttackSpec, check_against_zoo


def check_inputs(ctx: AttackContext, batch: AttackBatch, spec: AttackSpec) -> None:
    """Refuse, with one line, what the attack cannot do on this batch (before any work)."""
    kind = spec.attack
    check_against_zoo(spec, ctx.generator_ids)
    if kind.needs_seed:
        for key, z, g in zip(batch.keys, batch.latents, batch.true_generators):
            if z is None or g is None:
                raise AttackError(f"{spec.name} needs the seed that made the image, and {key} has none (a user's "
                                  "image); use an image-space attack such as fgsm-image:eps=0.03")
    if kind.needs_classifier and ctx.classifier is None:
        raise AttackError(f"{spec.name} needs the transfer classifier: pass --classifier PATH (trained with "
                          "`python -m reconstruction_pipeline attack train-classifier --zoo ZOO`)")


def apply_attack(ctx: AttackContext, batch: AttackBatch, spec: AttackSpec, *, seed: int) -> AttackOutput:
    """The attacked images of ``batch`` (same order), checked to lie within the spec's image-space budget."""
    check_inputs(ctx, batch, spec)
    out = spec.attack.run(ctx, batch, spec.params, seed=seed)
    if out.images.shape != batch.images.shape:
        raise AssertionError(f"{spec.name}: attack returned {tuple(out.images.shape)}")
    key, value = spec.budget
    if spec.attack.needs_seed:
        worst = max(out.info.get("seed_linf", [0.0]))
    elif key == "eps":
        worst = float(linf(batch.images, out.images).max())
    elif key == "l2":
        worst = float(l2(batch.images, out.images).max())
    else:
        worst = value  # unbounded (cw-image:c=, clf-cw:c=): the norm is reported, not bounded
    if worst > value:
        raise AssertionError(f"{spec.name}: perturbation {worst!r} exceeds the budget {value!r}")
    return out
