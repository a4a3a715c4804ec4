"""Benchmark: attacks batched across targets vs one target at a time, on the same targets.

    .venv-pipeline/bin/python bench/attacks.py [--zoo faces] [--targets-per-generator 4] [--threads N]
        [--attack SPEC ...] [--device auto]

Both sides call :func:`reconstruction_pipeline.attacks.apply_attack` with the same context, targets and seed; one
side once per target (batch 1), the other once for all targets. Per attack: targets/s of each, the largest
difference between their attacked images (per-row randomness derives from the target, so they are the same attacks),
then, as the last line, the ratio of the total times. The attribution of the attacked images is not timed (it is the
reconstruction, benchmarked by bench/reconstruction.py).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.scaffold import bench_device, bench_parser  # noqa: E402
from reconstruction_pipeline.attacks import (AttackBatch, AttackContext, AttackError, AttributionSettings,  # noqa: E402
                                             apply_attack, parse_attack)
from reconstruction_pipeline.distances import build_distance  # noqa: E402
from reconstruction_pipeline.generators import seeded_latents  # noqa: E402
from reconstruction_pipeline.targets import synthesize_targets  # noqa: E402
from reconstruction_pipeline.zoo import ZooError, load_zoo  # noqa: E402

DEFAULT = ["fgsm-image:eps=0.03", "fgm-image:l2=2", "fgsm-seed:eps=0.5", "cw-image:c=1000,steps=20", "evade:l2=2"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    p = bench_parser(__doc__)
    p.add_argument("--targets-per-generator", type=int, default=4)
    p.add_argument("--attack", nargs="+", default=DEFAULT)
    p.add_argument("--attacker-steps", type=int, default=20, help="steps of evade's own reconstructions")
    args = p.parse_args(argv)
    device = bench_device(args)
    try:
        gens = load_zoo(args.zoo, device=device)
        specs = [parse_attack(s, generator_ids=[g.id for g in gens]) for s in args.attack]
    except (ZooError, AttackError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ctx = AttackContext(gens, build_distance("pixel", device=device), device,
                        attacker=AttributionSettings(attempts=1, steps=args.attacker_steps))
    ts = synthesize_targets(gens, per_generator=args.targets_per_generator, seed=0, device=device)
    dims = {g.id: g.latent_dim for g in gens}
    batch = AttackBatch(ts.images, ts.ids, ts.true_generators,
                        tuple(seeded_latents([s], dims[g])[0] for s, g in zip(ts.seeds, ts.true_generators)))
    n = len(ts.ids)
    print(f"zoo {args.zoo} on {device} ({torch.get_num_threads()} CPU threads): {n} targets "
          f"({args.targets_per_generator} per generator), pixel MSE")
    apply_attack(ctx, batch.rows([0, 1]), specs[0], seed=0)  # warm-up
    t_one_total = t_batch_total = 0.0
    for spec in specs:
        _sync(device)
        t0 = time.perf_counter()
        single = [apply_attack(ctx, batch.rows([i]), spec, seed=0).images for i in range(n)]
        _sync(device)
        t_one = time.perf_counter() - t0
        t0 = time.perf_counter()
        batched = apply_attack(ctx, batch, spec, seed=0).images
        _sync(device)
        t_batch = time.perf_counter() - t0
        diff = (torch.cat(single) - batched).abs().max().item()
        t_one_total += t_one
        t_batch_total += t_batch
        print(f"{spec.name:<28} one at a time {n / t_one:8.2f} targets/s   batched {n / t_batch:8.2f} targets/s   "
              f"{t_one / t_batch:5.2f}x   max |image difference| {diff:.2g}")
    print(f"ratio batched / one-at-a-time: {t_one_total / t_batch_total:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
