"""Pairwise reconstruction check of a zoo: targets made by each generator, reconstructed on every generator.

For each generator g: targets x = g(z) from seeds; for each candidate h: optimise seeds s' (Adam, lr 0.1, several
random initialisations) to minimise the pixel MSE ||h(s') - x||^2 / (3 R^2); keep the best attempt. Prints the mean
distance table (rows: true generator, columns: candidate), the median, and how often the own generator wins
(smallest distance), i.e. the attribution accuracy of the algorithm on this zoo.

    .venv-pipeline/bin/python -m bench.zoo_pairwise faces --targets 8 --steps 300 --attempts 3 --threads 1
    .venv-pipeline/bin/python -m bench.zoo_pairwise tiny --plugin ID=module:factory   # add user generators
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from contracts.cli import OneLineParser
from reconstruction_pipeline.generators import Generator, seeded_latents
from reconstruction_pipeline.zoo import load_plugin, load_zoo


def reconstruct(gen: Generator, targets: torch.Tensor, *, steps: int, attempts: int, lr: float,
                seed: int) -> torch.Tensor:
    """targets [T, 3, R, R] in [-1, 1] -> best pixel MSE over ``attempts`` per target, [T]."""
    t = targets.shape[0]
    seeds = [seed * 100_003 + i for i in range(t * attempts)]
    z = seeded_latents(seeds, gen.latent_dim, device=targets.device).requires_grad_(True)
    x = targets.repeat_interleave(attempts, dim=0)                     # T*A x 3 x R x R
    opt = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        d = (gen.synthesize(z) - x).pow(2).flatten(1).mean(1)           # T*A, independent rows
        opt.zero_grad(set_to_none=True)
        d.sum().backward()
        opt.step()
    with torch.no_grad():
        d = (gen.synthesize(z) - x).pow(2).flatten(1).mean(1)
    return d.view(t, attempts).min(dim=1).values


def pairwise(gens: list[Generator], *, n_targets: int, steps: int, attempts: int, lr: float,
             seed: int) -> torch.Tensor:
    """[G, G, T] best distances: true generator x candidate x target."""
    out = torch.empty(len(gens), len(gens), n_targets)
    for i, g in enumerate(gens):
        with torch.no_grad():
            targets = g.synthesize(seeded_latents(range(10_000 + seed * 1000, 10_000 + seed * 1000 + n_targets),
                                                  g.latent_dim, device=g.device))
        for j, h in enumerate(gens):
            out[i, j] = reconstruct(h, targets, steps=steps, attempts=attempts, lr=lr, seed=seed + 7 * j)
    return out


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("zoo")
    p.add_argument("--plugin", action="append", default=[], help="extra generator ID=module:factory[:ckpt]")
    p.add_argument("--targets", type=int, default=8)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--attempts", type=int, default=3)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", help="also write the figures here")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    gens = load_zoo(a.zoo) + [load_plugin(s) for s in a.plugin]
    ids = [g.id for g in gens]
    t0 = time.perf_counter()
    d = pairwise(gens, n_targets=a.targets, steps=a.steps, attempts=a.attempts, lr=a.lr, seed=a.seed)
    secs = time.perf_counter() - t0
    mean, med = d.mean(dim=2), d.median(dim=2).values
    wins = (d.argmin(dim=1) == torch.arange(len(gens))[:, None]).float().mean(dim=1)  # per true generator
    w = max(len(i) for i in ids) + 2
    print(f"zoo {a.zoo}: {a.targets} targets per generator, Adam lr {a.lr}, {a.steps} steps, best of {a.attempts} "
          f"attempts, pixel MSE on [-1,1]; {secs:.0f} s on {torch.get_num_threads()} thread(s)")
    print("mean distance (rows: true generator, columns: candidate)")
    print(" " * w + "".join(f"{i:>{w}}" for i in ids) + f"{'own wins':>{w}}")
    for r, i in enumerate(ids):
        print(f"{i:<{w}}" + "".join(f"{float(mean[r, c]):>{w}.5f}" for c in range(len(ids)))
              + f"{float(wins[r]):>{w}.0%}")
    print("median distance")
    for r, i in enumerate(ids):
        print(f"{i:<{w}}" + "".join(f"{float(med[r, c]):>{w}.5f}" for c in range(len(ids))))
    print(f"overall own-generator wins: {float(wins.mean()):.1%}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"ids": ids, "mean": mean.tolist(), "median": med.tolist(), "own_wins": wins.tolist(),
                       "config": vars(a), "seconds": secs}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
