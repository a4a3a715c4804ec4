"""Evasion that targets the attribution's decision itself (``evade:l2=L`` / ``evade:eps=E``).

The attribution names ``argmin_g min_s d(g(s), x)``. To make it miss the true generator ``A`` the attacker wants
``A``'s reconstruction residual up and some other generator's down. To first order, ``A``'s best reconstruction of
``x + delta`` absorbs the part of ``delta`` that lies in ``A``'s tangent space at the reconstructed seed ``s_A``
(the column space of the Jacobian ``J = dg_A/ds``): only ``P_perp delta`` with ``P_perp = I - Q Q^T`` (``Q`` an
orthonormal basis of ``J``'s columns) remains as residual. The runner-up ``B`` (smallest best distance after ``A``)
loses residual when ``delta`` points at its best reconstruction ``x_B``. So:

    u = P_perp (x_B - x),   delta = L * u / ||u||_2  (l2)   or   delta = eps * sign(u)  (l-inf)

from the attacker's own reconstructions (:class:`AttackContext.attacker` settings: attempts x steps on every
generator). ``A`` is the generator the attacker's reconstruction names (the attribution's likely answer), so the
attack needs neither the true generator nor the seed and runs on a user's image too. ``J`` is computed with
forward-mode AD (``torch.func.jvp``, one tangent per latent dimension, all rows of all images in one batch) and ``Q``
by a reduced QR decomposition.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from reconstruction_pipeline.attacks.budget import SCALE, project_l2, project_linf
from reconstruction_pipeline.attacks.context import AttackBatch, AttackContext, best_reconstruction
from reconstruction_pipeline.attacks.spec import AttackKind, AttackOutput, ParamValue, positive_float, register_attack
from reconstruction_pipeline.generators import Generator


def tangent_basis(generator: Generator, seeds: torch.Tensor) -> torch.Tensor:
    """seeds: [N, k] -> Q: [N, D, k] orthonormal basis of the columns of dg/ds at each seed (D = 3 H W)."""
    n, k = seeds.shape
    z = seeds.repeat_interleave(k, dim=0)  # N*k x k
    eye = torch.eye(k, dtype=seeds.dtype, device=seeds.device).repeat(n, 1)  # N*k x k: tangent e_j for row (i, j)
    jv: torch.Tensor = torch.func.jvp(generator.synthesize, (z,), (eye,))[1]  # N*k x 3 x H x W
    jac = jv.reshape(n, k, -1).transpose(1, 2)  # N x D x k
    q, _ = torch.linalg.qr(jac.double(), mode="reduced")
    return q.to(seeds.dtype)


def off_tangent(q: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """u: [N, 3, H, W] -> (I - Q Q^T) u, row by row."""
    flat = u.flatten(1).unsqueeze(2)  # N x D x 1
    proj = q @ (q.transpose(1, 2) @ flat)
    return (flat - proj).squeeze(2).view_as(u)


def evade(ctx: AttackContext, images: torch.Tensor, *, l2: float | None = None, eps: float | None = None
          ) -> tuple[torch.Tensor, list[str], list[str]]:
    """images: [N, 3, H, W] in [-1, 1]; exactly one of ``l2`` / ``eps`` ([0, 1] units). Returns (attacked images
    within the budget exactly, the generator each was steered away from, the runner-up each was steered towards)."""
    if (l2 is None) == (eps is None):
        raise ValueError("give exactly one of l2 and eps")
    x = images.to(ctx.device)
    n = x.shape[0]
    if len(ctx.generators) < 2:
        raise ValueError("evasion needs at least two generators")
    recs = {g.id: best_reconstruction(ctx, g, x, ctx.attacker, purpose="evade") for g in ctx.generators}
    dist = torch.stack([recs[g.id].distance for g in ctx.generators], dim=1)  # N x G
    order = dist.argsort(dim=1, stable=True)
    ids = ctx.generator_ids
    away = [ids[int(order[i, 0])] for i in range(n)]
    toward = [ids[int(order[i, 1])] for i in range(n)]
    u = torch.empty_like(x)
    for gid in sorted(set(away)):
        idx = [i for i in range(n) if away[i] == gid]
        q = tangent_basis(ctx.generator(gid), recs[gid].seeds[idx].to(ctx.device))
        x_b = torch.stack([recs[toward[i]].images[i] for i in idx]).to(ctx.device)
        u[idx] = off_tangent(q, x_b - x[idx])
    if l2 is not None:
        unit = u / u.flatten(1).norm(dim=1).clamp_min(1e-30).view(-1, 1, 1, 1)
        out = project_l2(x, x + SCALE * l2 * unit, l2)
    else:
        assert eps is not None
        out = project_linf(x, x + SCALE * eps * u.sign(), eps)
    return out.cpu(), away, toward


def _run_evade(ctx: AttackContext, batch: AttackBatch, params: Mapping[str, ParamValue], *,
               seed: int) -> AttackOutput:
    l2 = float(params["l2"]) if "l2" in params else None
    eps = float(params["eps"]) if "eps" in params else None
    out, away, _toward = evade(ctx, batch.images, l2=l2, eps=eps)
    return AttackOutput(out, {"evaded_named_true": [float(a == t) for a, t in zip(away, batch.true_generators)]})


register_attack(AttackKind("evade", {"l2": positive_float, "eps": positive_float}, ("l2", "eps"), _run_evade,
                           "attribution-targeted evasion: off the true generator's tangent space, towards the "
                           "runner-up's reconstruction (l2 or l-inf budget, [0,1] units)"))
