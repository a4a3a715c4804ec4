"""Benchmark: one batched multi-condition build vs building each condition separately (same targets, attempts, steps).

    .venv-pipeline/bin/python bench/conditions.py [--zoo faces] [--targets-per-generator 2] [--attempts 2]
        [--steps 10] [--conditions clean,jpeg:q=50,mirror,blur:k=5] [--device auto] [--threads N]

Both sides call :func:`reconstruction_pipeline.bundle_builder.build_bundle` on the same loaded generators (loading is
not timed), into fresh temporary directories: the batched side once with every condition (all conditions of a
candidate in one batch), the other once per condition (``--conditions C``). Each side reconstructs the same
(source, condition) targets from the same initial seeds (they derive from the target ids, which depend only on the
seed, the source and the condition), so the final distances must agree: the largest difference is printed. The last
line is the ratio of wall times, separate / batched.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.scaffold import bench_device, bench_parser  # noqa: E402
from reconstruction_pipeline.bundle_builder import BuildOptions, Runner, build_bundle  # noqa: E402
from reconstruction_pipeline.conditions import parse_condition_list  # noqa: E402
from reconstruction_pipeline.distances import build_distance  # noqa: E402
from reconstruction_pipeline.shards import ReconstructionSettings  # noqa: E402
from reconstruction_pipeline.sources import GeneratorSource  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = bench_parser(__doc__)
    p.add_argument("--targets-per-generator", type=int, default=2)
    p.add_argument("--attempts", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--conditions", default="clean,jpeg:q=50,mirror,blur:k=5")
    p.add_argument("--targets-per-shard", type=int, default=32)
    args = p.parse_args(argv)
    device = bench_device(args)
    names = tuple(rc.name for rc in parse_condition_list(args.conditions))
    source = GeneratorSource(args.zoo, ())
    generators = source.load(device=device)
    distance = build_distance("pixel", device=device)
    settings = ReconstructionSettings(steps=args.steps, lr=0.1, distance="pixel")

    def build(out: Path, conditions: tuple[str, ...]) -> dict[tuple[str, str, int], float]:
        options = BuildOptions(targets_per_generator=args.targets_per_generator, attempts=args.attempts, seed=0,
                               reconstruction=settings, targets_per_shard=args.targets_per_shard,
                               conditions=conditions)
        b = build_bundle(out, generators=generators, source=source, distance=distance, device=device,
                         options=options, runner=Runner("local", args.device), progress=False)
        return {(r.target_id, r.generator, r.attempt): r.distance for r in b.reconstructions}

    n_sources = args.targets_per_generator * len(generators)
    attempts_total = n_sources * len(names) * len(generators) * args.attempts
    print(f"{args.zoo} zoo on {device} ({torch.get_num_threads()} CPU threads): {n_sources} sources x "
          f"{len(names)} conditions ({', '.join(names)}) x {len(generators)} candidates x {args.attempts} attempts "
          f"= {attempts_total} attempts, {args.steps} Adam steps each, pixel MSE")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        batched = build(Path(tmp) / "batched", names)
        t_batched = time.perf_counter() - t0
        separate: dict[tuple[str, str, int], float] = {}
        t0 = time.perf_counter()
        for i, name in enumerate(names):
            separate.update(build(Path(tmp) / f"separate-{i}", (name,)))
        t_separate = time.perf_counter() - t0
    assert set(batched) == set(separate), "the two sides reconstructed different targets"
    diff = max(abs(batched[k] - separate[k]) for k in batched)
    rate = attempts_total * args.steps
    print(f"each condition separately ({len(names)} builds): {t_separate:8.2f} s   "
          f"{rate / t_separate:8.1f} attempt-steps/s")
    print(f"all conditions batched (1 build):      {t_batched:8.2f} s   {rate / t_batched:8.1f} attempt-steps/s")
    print(f"largest difference of final distances: {diff:.3g} (same attempts; batch size changes float rounding)")
    print(f"ratio batched / separate: {t_separate / t_batched:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
