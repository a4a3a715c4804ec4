"""Benchmark: one attempt at a time (the paper's loop) vs the batched pipeline in fp32 and bf16, contiguous and
channels_last, optionally under torch.compile; same attempts.

    .venv-pipeline/bin/python bench/reconstruction.py [--zoo faces --generator digiface-dcgan] [--targets 10]
        [--attempts 3] [--steps 30] [--device auto] [--threads N] [--repeats 3] [--compile]
        [--batch-sizes 1,8,30,96,192] [--sweep-csv PATH] [--peak-tflops fp32=P,bf16=Q]

Every path runs :func:`reconstruction_pipeline.reconstruct.reconstruct` on the same targets, initial seeds, steps,
lr and pixel distance: ``one at a time fp32`` calls it once per attempt (batch 1, as the paper's code: one attempt
per GPU job), the others once for all attempts -- ``batched fp32``, ``batched fp32 channels_last``, ``batched bf16``,
``batched bf16 channels_last`` (the pipeline's ``--precision`` and ``--memory-format``: bf16 = bfloat16 autocast
search; the recorded distances are recomputed in fp32 with the contiguous generator) and, with ``--compile``,
``batched fp32 compiled`` and ``batched bf16 compiled`` (the generator's network under ``torch.compile``, inductor;
the compilation is timed in the warm-up and printed apart, never in the throughput). The batched paths run
``--repeats`` times interleaved (so load from other processes hits them alike) and the fastest run of each is
reported (the one least disturbed by other processes; every run's time is printed beside it). The load average
(``os.getloadavg``) is printed at the start and the end.

Printed per path: wall time, attempt-steps/s (attempts x steps / wall time, after a warm-up), achieved TFLOP/s (FLOPs
of one step's forward + backward counted with ``torch.utils.flop_counter.FlopCounterMode``; the fp32 re-evaluation
of bf16 runs is in the time, not in the count) and the percentage of the device's peak for that path's precision
(``--peak-tflops``, or the table of known devices below, or for a CPU an estimate: threads x clock x FLOP/cycle of its
widest fp32 FMA / bf16 instructions), attempt-steps per second of the process's CPU time (``per CPU-s``: with
``--threads 1`` on a shared machine the time the process actually ran, so much steadier than wall time), how far
its final distances are from batched fp32's (per attempt, and per target as the smallest over attempts, which is
what attribution uses), and ``exact``: whether its recorded final
distances equal a plain contiguous fp32 forward at its final seeds bit for bit. ``--batch-sizes`` adds a sweep of
attempt-steps/s against batch size for fp32 and bf16, contiguous and channels_last (``--sweep-csv`` writes it as CSV
for bench/plot_batch_sweep.py). The last line is the ratio of the fastest batched path to batched fp32.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.scaffold import bench_device, bench_parser  # noqa: E402
from reconstruction_pipeline.distances import build_distance  # noqa: E402
from reconstruction_pipeline.generators import Generator, seeded_latents  # noqa: E402
from reconstruction_pipeline.precision import cpu_bf16_isa  # noqa: E402
from reconstruction_pipeline.reconstruct import (ReconstructionResult, distances_at, one_at_a_time,  # noqa: E402
                                                 reconstruct)
from reconstruction_pipeline.targets import derive_seed  # noqa: E402
from reconstruction_pipeline.zoo import load_zoo  # noqa: E402

# dense peak TFLOP/s (no sparsity) of GPUs by name fragment: fp32 (CUDA cores), bf16 (Tensor cores); vendor sheets
KNOWN_PEAKS: dict[str, dict[str, float]] = {
    "H200": {"fp32": 67.0, "bf16": 989.0},
    "H100 SXM": {"fp32": 67.0, "bf16": 989.0},
    "H100 PCIe": {"fp32": 51.0, "bf16": 756.0},
    "A100": {"fp32": 19.5, "bf16": 312.0},
    "L40S": {"fp32": 91.6, "bf16": 362.0},
    "A10": {"fp32": 31.2, "bf16": 125.0},
}
# FLOP per cycle per core of a CPU's widest instructions: two 512-bit FMA pipes (fp32: 2 x 16 lanes x 2), AVX-512
# BF16 dot products (2 x 32 x 2), AMX tiles (TMUL: 1024 bf16 FLOP/cycle)
CPU_FLOP_PER_CYCLE = {"fp32": 64.0, "avx512_bf16": 128.0, "amx_bf16": 1024.0}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _cpu_ghz() -> float | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) / 1000
    except (OSError, ValueError):
        pass
    return None


def device_peaks(device: torch.device, given: dict[str, float]) -> tuple[dict[str, float], str]:
    """Peak TFLOP/s per precision and where the figures come from."""
    if given:
        return given, "--peak-tflops"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, peaks in KNOWN_PEAKS.items():
            if key in name:
                return peaks, f"vendor sheet for {key}"
        return {}, f"unknown GPU {name}: pass --peak-tflops"
    ghz, threads = _cpu_ghz(), torch.get_num_threads()
    if ghz is None:
        return {}, "unknown CPU clock: pass --peak-tflops"
    isa = cpu_bf16_isa()
    peaks = {"fp32": threads * ghz * CPU_FLOP_PER_CYCLE["fp32"] / 1000}
    if isa is not None:
        peaks["bf16"] = threads * ghz * CPU_FLOP_PER_CYCLE[isa] / 1000
    return peaks, (f"estimate: {threads} threads x {ghz:.2f} GHz x FLOP/cycle (fp32 FMA 64"
                   + (f", {isa} {CPU_FLOP_PER_CYCLE[isa]:g}" if isa else ", no native bf16") + ")")


def parse_peaks(text: str | None) -> dict[str, float]:
    if not text:
        return {}
    out: dict[str, float] = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        if key not in ("fp32", "bf16") or not value:
            raise ValueError(f"--peak-tflops: expected fp32=P,bf16=Q, got {text!r}")
        out[key] = float(value)
    return out


def step_flops(g: Generator, z: torch.Tensor, x: torch.Tensor) -> int:
    """FLOPs of one optimisation step's forward and backward for the batch ``z``."""
    dist = build_distance("pixel", device=z.device)
    zz = z.clone().requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        dist(g.synthesize(zz), x).sum().backward()
    return int(counter.get_total_flops())


def compiled(g: Generator) -> Generator:
    """The generator whose network runs under ``torch.compile`` (inductor, static shapes); the same weights."""
    return Generator(g.spec, torch.compile(g.net, dynamic=False))  # type: ignore[arg-type]


def load_average() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


# (name, precision, memory format, compiled): the batched paths in the order they are timed
BATCHED = [("batched fp32", "fp32", "contiguous", False),
           ("batched fp32 channels_last", "fp32", "channels_last", False),
           ("batched bf16", "bf16", "contiguous", False),
           ("batched bf16 channels_last", "bf16", "channels_last", False)]
COMPILED = [("batched fp32 compiled", "fp32", "contiguous", True),
            ("batched bf16 compiled", "bf16", "contiguous", True)]
SWEEP = [("fp32", "contiguous"), ("fp32", "channels_last"), ("bf16", "contiguous"), ("bf16", "channels_last")]


def main(argv: list[str] | None = None) -> int:
    p = bench_parser(__doc__)
    p.add_argument("--generator", default="digiface-dcgan", help="id of the zoo's generator to time")
    p.add_argument("--targets", type=int, default=10)
    p.add_argument("--attempts", type=int, default=3)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats of the batched paths (fastest reported)")
    p.add_argument("--compile", action="store_true",
                   help="also time fp32 and bf16 with the network under torch.compile")
    p.add_argument("--channels-last", action="store_true",
                   help="accepted for the commands recorded before the channels_last paths always ran; no effect")
    p.add_argument("--batch-sizes", default="", help="also sweep attempt-steps/s over these batch sizes")
    p.add_argument("--sweep-csv", type=Path, default=None, help="write the sweep as CSV (appended to)")
    p.add_argument("--peak-tflops", default=None, metavar="fp32=P,bf16=Q",
                   help="device peaks for the percentages (default: known GPUs, or an estimate for the CPU)")
    args = p.parse_args(argv)
    try:
        given = parse_peaks(args.peak_tflops)
        sweep = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
        if any(b < 1 for b in sweep):
            raise ValueError(f"--batch-sizes: sizes must be >= 1, got {args.batch_sizes!r}")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    device = bench_device(args)
    gens = {g.id: g for g in load_zoo(args.zoo, device=device)}
    if args.generator not in gens:
        print(f"error: zoo {args.zoo!r} has no generator {args.generator!r} ({', '.join(gens)})", file=sys.stderr)
        return 2
    g = gens[args.generator]
    dist = build_distance("pixel", device=device)
    n = args.targets * args.attempts
    n_max = max([n, *sweep])
    with torch.no_grad():
        x_all = g.synthesize(seeded_latents([derive_seed(0, "bench-target", i) for i in range(n_max)], g.latent_dim,
                                            device=device))
    x = x_all[:args.targets].repeat_interleave(args.attempts, dim=0)
    z0 = seeded_latents([derive_seed(0, "bench-init", i) for i in range(n_max)], g.latent_dim, device=device)[:n]
    peaks, peak_source = device_peaks(device, given)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{torch.get_num_threads()} CPU threads, bf16 instructions: {cpu_bf16_isa() or 'none (emulated)'}"
    print(f"{g.id} ({g.resolution}x{g.resolution}, latent {g.latent_dim}) on {device} ({where}): {args.targets} "
          f"targets x {args.attempts} attempts = {n} attempts, {args.steps} Adam steps each, pixel MSE; "
          f"{load_average()}")
    print(f"peaks: {', '.join(f'{k} {v:.3g} TFLOP/s' for k, v in peaks.items()) or 'none'} ({peak_source})")

    def run(gen: Generator, precision: str, layout: str, zz: torch.Tensor, xx: torch.Tensor, steps: int
            ) -> tuple[float, float, ReconstructionResult]:
        _sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        res = reconstruct(gen, xx, zz, steps=steps, distance=dist, device=device, precision=precision,
                          memory_format=layout)
        _sync(device)
        return time.perf_counter() - t0, time.process_time() - c0, res

    paths = {name: (compiled(g) if comp else g, prec, layout) for name, prec, layout, comp in
             BATCHED + (COMPILED if args.compile else [])}
    # warm-up every path (allocator, oneDNN kernels; compilation: timed and printed, never counted)
    run(g, "fp32", "contiguous", z0[:1], x[:1], 2)
    for name, (gen, prec, layout) in paths.items():
        t = run(gen, prec, layout, z0, x, 2)[0]
        if "compiled" in name:
            again = run(gen, prec, layout, z0, x, 2)[0]  # compiled now: the second warm-up is a plain 2-step run
            print(f"(torch.compile of {name}: {t - again:.1f} s compile time in the warm-up, not counted)")

    t0, c0 = time.perf_counter(), time.process_time()
    single = one_at_a_time(g, x, z0, steps=args.steps, distance=dist, device=device)
    _sync(device)
    times: dict[str, list[float]] = {"one at a time fp32": [time.perf_counter() - t0]}
    cpu: dict[str, list[float]] = {"one at a time fp32": [time.process_time() - c0]}
    results: dict[str, ReconstructionResult] = {"one at a time fp32": single}
    for _ in range(args.repeats):
        for name, (gen, prec, layout) in paths.items():
            t, c, res = run(gen, prec, layout, z0, x, args.steps)
            times.setdefault(name, []).append(t)
            cpu.setdefault(name, []).append(c)
            results[name] = res

    work = n * args.steps
    f1, fb = step_flops(g, z0[:1], x[:1]), step_flops(g, z0, x)
    ref = results["batched fp32"]
    with torch.no_grad():
        prepared = dist.prepare(x)
    rates: dict[str, float] = {}
    cpu_rates: dict[str, float] = {}
    print(f"{'path':32s} {'wall s':>8s} {'attempt-steps/s':>16s} {'TFLOP/s':>9s} {'% peak':>8s} {'exact':>6s} "
          f"{'per CPU-s':>10s}  "
          "max |d - d_fp32| per attempt / per target (min over attempts)")
    for name, ts in times.items():
        t = min(ts)
        rates[name] = work / t
        cpu_rates[name] = work / min(cpu[name])  # attempt-steps per second of this process's CPU time
        flops = (f1 * n if name.startswith("one") else fb) * args.steps
        tflops = flops / t / 1e12
        prec = "bf16" if "bf16" in name else "fp32"
        pct = f"{100 * tflops / peaks[prec]:7.1f}%" if prec in peaks else "      -"
        d = results[name].final_distance
        if name.startswith("one"):  # batch 1 rows: recompute one at a time, as they were recorded
            again = torch.cat([distances_at(g, s[None].to(device), pr[None], dist)[1].cpu()
                               for s, pr in zip(results[name].final_seeds, prepared)])
        else:
            again = distances_at(g, results[name].final_seeds.to(device), prepared, dist)[1].cpu()
        exact = "yes" if torch.equal(again, d) else "NO"
        per_attempt = (d - ref.final_distance).abs().max().item()
        mins = d.view(args.targets, args.attempts).amin(1)
        per_target = (mins - ref.final_distance.view(args.targets, args.attempts).amin(1)).abs().max().item()
        spread = f" (runs: {', '.join(f'{v:.2f}' for v in ts)})" if len(ts) > 1 else ""
        print(f"{name:32s} {t:8.2f} {rates[name]:16.1f} {tflops:9.4f} {pct} {exact:>6s} {cpu_rates[name]:10.1f}  "
              f"{per_attempt:.3g} / "
              f"{per_target:.3g}{spread}")
    print(f"FLOPs per attempt-step: {f1 / 1e6:.1f} M at batch 1, {fb / n / 1e6:.1f} M batched; {load_average()}")

    rows: list[dict[str, object]] = []
    for b in sweep:
        xb = x_all[:b]
        zb = seeded_latents([derive_seed(0, "bench-sweep", i) for i in range(b)], g.latent_dim, device=device)
        line = []
        for prec, layout in SWEEP:
            run(g, prec, layout, zb, xb, 2)
            timed = [run(g, prec, layout, zb, xb, args.steps)[:2] for _ in range(max(1, args.repeats - 1))]
            ts = [t for t, _ in timed]
            rate = b * args.steps / min(ts)
            line.append(f"{prec}{' CL' if layout == 'channels_last' else ''} {rate:7.1f}")
            rows.append({"generator": g.id, "precision": prec, "memory_format": layout, "batch": b,
                         "attempt_steps_per_s": round(rate, 2),
                         "attempt_steps_per_cpu_s": round(b * args.steps / min(c for _, c in timed), 2),
                         "steps": args.steps,
                         "runs_s": " ".join(f"{v:.3f}" for v in ts), "load1": round(os.getloadavg()[0], 2)})
        print(f"batch {b:5d}: attempt-steps/s  {'  '.join(line)}  ({load_average()})")
    if args.sweep_csv is not None and rows:
        fields = list(rows[0])
        new = not args.sweep_csv.exists()
        if not new:  # appended to in the columns it already has
            with args.sweep_csv.open(newline="") as fh:
                fields = next(csv.reader(fh), fields)
        with args.sweep_csv.open("a", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore", restval="")
            if new:
                w.writeheader()
            w.writerows(rows)

    batched = {k: v for k, v in rates.items() if k.startswith("batched")}
    best = max(batched, key=lambda k: batched[k])
    print(f"ratio batched fp32 / one-at-a-time fp32: {rates['batched fp32'] / rates['one at a time fp32']:.2f}x")
    best_cpu = max((k for k in cpu_rates if k.startswith("batched")), key=lambda k: cpu_rates[k])
    print(f"per CPU second (threads x busy time, steadier than wall time on a shared machine): best ({best_cpu}) / "
          f"batched fp32: {cpu_rates[best_cpu] / cpu_rates['batched fp32']:.2f}x")
    print(f"ratio best ({best}) / batched fp32: {batched[best] / rates['batched fp32']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
