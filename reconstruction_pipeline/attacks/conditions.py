"""Every attack is a condition kind ``attack`` (docs/contracts.md addendum), registered in the pipeline's one
condition registry (:mod:`reconstruction_pipeline.conditions`), so ``build --conditions
clean,fgsm-image:eps=0.03,frame:target=face-resnet,l2=4`` makes a bundle the study shows to people.

In a build, an attack runs on the clean targets with the build's generators and distance; per-row randomness comes
from the build's condition seeds (build seed, source target, condition name); ``fgsm-seed`` uses the targets' own
seeds; framing checks against an attribution of :class:`AttributionSettings`' defaults (3 attempts x 200 steps)
and the attacker's own reconstructions (2 x 100); the ``clf-*`` kinds load the committed classifier of the zoo whose
generators the build uses (``attacks/weights/dct-ZOO.pt``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from contracts.conditions import ParamValue
from reconstruction_pipeline.attacks.apply import apply_attack
from reconstruction_pipeline.attacks.context import AttackBatch, AttackContext
from reconstruction_pipeline.attacks.spec import ATTACKS, AttackError, AttackSpec, check_against_zoo, validate_params
from reconstruction_pipeline.conditions import ConditionContext, ConditionError, ConditionKind, register, resolve
from reconstruction_pipeline.distances import Distance, build_distance
from reconstruction_pipeline.errors import PipelineError
from reconstruction_pipeline.generators import Generator, seeded_latents


@dataclass(frozen=True)
class AttackConditionKind(ConditionKind):
    """A condition kind whose parameters are checked by the attack's own rules (alternative budgets, optional
    parameters, a generator id), not by the registry's numeric :class:`~reconstruction_pipeline.conditions.Param`."""

    def validate(self, params: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
        try:
            return validate_params(self.name, params)
        except AttackError as e:
            raise ConditionError(f"condition {self.name!r}: {e}") from None

    def usage(self) -> str:
        k = ATTACKS[self.name]
        return f"{self.name}:" + ",".join(f"{p}=..." for p in k.params) + f" ({k.summary})"


def _classifier_for(generators: Sequence[Generator], device: torch.device) -> torch.nn.Module | None:
    from reconstruction_pipeline.attacks.classifier import load_classifier, weights_file
    from reconstruction_pipeline.zoo import zoo_names, zoo_specs

    ids = [g.id for g in generators]
    for zoo in zoo_names():
        if [s.id for s in zoo_specs(zoo)] == ids and weights_file(zoo).is_file():
            return load_classifier(weights_file(zoo), device=device)[0]
    return None


def _apply(kind: str):  # type: ignore[no-untyped-def]
    def apply(images: torch.Tensor, seeds: Sequence[int], params: Mapping[str, ParamValue],
              cctx: ConditionContext) -> torch.Tensor:
        gens = [g for g in cctx.generators.values() if isinstance(g, Generator)]
        distance = cctx.distance if isinstance(cctx.distance, Distance) else build_distance("pixel",
                                                                                           device=cctx.device)
        spec = AttackSpec(kind, dict(params))
        clf = _classifier_for(gens, cctx.device) if spec.attack.needs_classifier else None
        ctx = AttackContext(gens, distance, cctx.device, classifier=clf)
        n = images.shape[0]
        true = tuple(cctx.true_generators) if cctx.true_generators else (None,) * n
        tseeds = tuple(getattr(cctx, "target_seeds", ()) or ())
        latents = tuple(seeded_latents([s], ctx.generator(g).latent_dim)[0] if g is not None and tseeds else None
                        for s, g in zip(tseeds or (0,) * n, true))
        batch = AttackBatch(images.detach().float().cpu(), tuple(str(s) for s in seeds), true, latents)
        try:
            out = apply_attack(ctx, batch, spec, seed=0)
        except AttackError as e:
            raise ConditionError(f"condition {spec.name!r}: {e}") from None
        return out.images.to(device=images.device, dtype=images.dtype)
    return apply


def check_conditions(names: Sequence[str] | None, generator_ids: Sequence[str]) -> None:
    """Refuse, before any work, attack conditions that cannot run on these generators (a framing target not among
    them, a classifier attack with no committed classifier for them)."""
    from reconstruction_pipeline.attacks.classifier import weights_file
    from reconstruction_pipeline.zoo import zoo_names, zoo_specs

    for name in names or ():
        rc = resolve(name)
        if rc.kind is None or rc.kind.name not in ATTACKS:
            continue
        spec = AttackSpec(rc.kind.name, dict(rc.condition.params))
        try:
            check_against_zoo(spec, generator_ids)
        except AttackError as e:
            raise PipelineError(f"--conditions: {e}", exit_code=2) from None
        if spec.attack.needs_classifier and not any(
                [s.id for s in zoo_specs(z)] == list(generator_ids) and weights_file(z).is_file()
                for z in zoo_names()):
            raise PipelineError(f"--conditions: {name} needs a DCT classifier trained on these generators "
                                "(attack train-classifier --zoo ZOO); none is committed for them", exit_code=2)


for _name, _kind in sorted(ATTACKS.items()):
    register(AttackConditionKind(_name, "attack", _apply(_name), (), _kind.summary))
