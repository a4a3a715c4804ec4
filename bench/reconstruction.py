"""Benchmark: the paper's one-attempt-at-a-time loop (batch 1) vs the batched pipeline, on the same attempts.

    .venv-pipeline/bin/python bench/reconstruction.py [--zoo faces --generator digiface-dcgan] [--targets 10]
        [--attempts 3] [--steps 30] [--device auto] [--threads N] [--peak-tflops P]

Both sides run :func:`reconstruction_pipeline.reconstruct.reconstruct` with the same targets, initial seeds, steps,
lr and pixel distance; one side calls it once per attempt (batch 1, as the paper's code: one attempt per GPU job),
the other once for all attempts. Prints attempt-steps/s of each (attempts x steps / wall time, after a warm-up),
the largest difference of their final distances (they are the same attempts), achieved TFLOP/s (FLOPs of one
forward+backward counted with ``torch.utils.flop_counter.FlopCounterMode``, percentage of ``--peak-tflops`` when
given) and, as the last line, the ratio batched / one-at-a-time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from reconstruction_pipeline.distances import build_distance  # noqa: E402
from reconstruction_pipeline.generators import Generator, resolve_device, seeded_latents  # noqa: E402
from reconstruction_pipeline.reconstruct import reconstruct  # noqa: E402
from reconstruction_pipeline.targets import derive_seed  # noqa: E402
from reconstruction_pipeline.zoo import load_zoo  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_flops(g: Generator, z: torch.Tensor, x: torch.Tensor) -> int:
    """FLOPs of one optimisation step's forward and backward for the batch ``z``."""
    dist = build_distance("pixel", device=z.device)
    zz = z.clone().requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        dist(g.synthesize(zz), x).sum().backward()
    return int(counter.get_total_flops())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--zoo", default="faces")
    p.add_argument("--generator", default="digiface-dcgan", help="id of the zoo's generator to time")
    p.add_argument("--targets", type=int, default=10)
    p.add_argument("--attempts", type=int, default=3)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--peak-tflops", type=float, default=None, help="device peak for the percentage (e.g. 67 fp32)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    gens = {g.id: g for g in load_zoo(args.zoo, device=device)}
    if args.generator not in gens:
        print(f"error: zoo {args.zoo!r} has no generator {args.generator!r} ({', '.join(gens)})", file=sys.stderr)
        return 2
    g = gens[args.generator]
    dist = build_distance("pixel", device=device)
    n = args.targets * args.attempts
    with torch.no_grad():
        x = g.synthesize(seeded_latents([derive_seed(0, "bench-target", i) for i in range(args.targets)],
                                        g.latent_dim, device=device)).repeat_interleave(args.attempts, dim=0)
    z0 = seeded_latents([derive_seed(0, "bench-init", i) for i in range(n)], g.latent_dim, device=device)
    print(f"{g.id} ({g.resolution}x{g.resolution}, latent {g.latent_dim}) on {device} "
          f"({torch.get_num_threads()} CPU threads): {args.targets} targets x {args.attempts} attempts = {n} "
          f"attempts, {args.steps} Adam steps each, pixel MSE")

    # warm-up both paths (allocator, kernels)
    reconstruct(g, x[:1], z0[:1], steps=2, distance=dist, device=device)
    reconstruct(g, x, z0, steps=2, distance=dist, device=device)

    _sync(device)
    t0 = time.perf_counter()
    single = [reconstruct(g, x[i:i + 1], z0[i:i + 1], steps=args.steps, distance=dist, device=device)
              for i in range(n)]
    _sync(device)
    t_single = time.perf_counter() - t0

    t0 = time.perf_counter()
    batched = reconstruct(g, x, z0, steps=args.steps, distance=dist, device=device)
    _sync(device)
    t_batched = time.perf_counter() - t0

    work = n * args.steps
    rate_single, rate_batched = work / t_single, work / t_batched
    diff = (torch.cat([r.final_distance for r in single]) - batched.final_distance).abs().max().item()
    print(f"one at a time (batch 1): {t_single:8.2f} s  {rate_single:9.1f} attempt-steps/s")
    print(f"batched (batch {n}):{' ' * max(0, 6 - len(str(n)))}{t_batched:8.2f} s  {rate_batched:9.1f} "
          "attempt-steps/s")
    print(f"largest |final distance difference| between the two: {diff:.3g} (float32 rounding)")
    f1 = step_flops(g, z0[:1], x[:1])
    fb = step_flops(g, z0, x)
    for name, flops, t in (("one at a time", f1 * n, t_single), ("batched", fb, t_batched)):
        tflops = flops * args.steps / t / 1e12
        pct = f" = {100 * tflops / args.peak_tflops:.1f}% of {args.peak_tflops:g}" if args.peak_tflops else ""
        print(f"achieved {name}: {tflops:.4f} TFLOP/s{pct} ({flops / n / 1e6:.1f} MFLOP per attempt-step)")
    print(f"ratio batched / one-at-a-time: {rate_batched / rate_single:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
