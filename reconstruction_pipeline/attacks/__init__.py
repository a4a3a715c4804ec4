"""Adversaries against the attribution (paper section VI-C, and the two attacks it only argued, section III-D).

Pure functions, device and randomness passed in, batched across targets like the reconstruction:

- :mod:`.paper`: ``fgsm-seed``, ``fgsm-image``, ``fgm-image``, ``cw-image`` (the paper's white-box attacks);
- :mod:`.classifier`: the DCT classifier of Fig. 9 and torchattacks' ``clf-fgsm``, ``clf-pgd``, ``clf-pgdl2``,
  ``clf-cw`` against it (transfer);
- :mod:`.evasion`: ``evade`` -- evasion aimed at the attribution's decision (off the true generator's tangent space);
- :mod:`.framing`: ``frame`` -- make the attribution name an innocent generator;
- :mod:`.spec`: the spec strings (``fgsm-image:eps=0.03``, the condition names) and the open registry of kinds;
- :mod:`.budget`: budgets in [0, 1] units, exact projections, SSIM; :mod:`.experiment`: sweeps, tables, figures.

Usage: ``apply_attack(ctx, batch, parse_attack("fgsm-image:eps=0.03"), seed=0)``.
"""

from reconstruction_pipeline.attacks import classifier, evasion, framing, paper  # noqa: F401  (register the kinds)
from reconstruction_pipeline.attacks.context import AttackBatch, AttackContext, AttributionSettings
from reconstruction_pipeline.attacks.spec import (ATTACKS, AttackError, AttackKind, AttackOutput, AttackSpec,
                                                  attack_names, parse_attack, register_attack)
from reconstruction_pipeline.attacks.apply import apply_attack
from reconstruction_pipeline.attacks import conditions as _conditions  # noqa: F401,E402  (condition kinds)

__all__ = ["ATTACKS", "AttackBatch", "AttackContext", "AttackError", "AttackKind", "AttackOutput", "AttackSpec",
           "AttributionSettings", "apply_attack", "attack_names", "parse_attack", "register_attack"]
