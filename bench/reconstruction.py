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
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.scaffold import bench_device, bench_parser  # noqa: E402
from contracts.cli import EXIT_USAGE, report  # noqa: E402
from reconstruction_pipeline.distances import Distance, build_distance  # noqa: E402
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
ONE = "one at a time fp32"

# a path to time: its generator (plain or compiled), precision and memory format
PathSpec = tuple[Generator, str, str]


class UnknownGenerator(ValueError):
    """The zoo has no generator of the id given."""


@dataclass
class Bench:
    """The generator, targets and initial seeds every path runs on, and the device's peaks."""
    device: torch.device
    g: Generator
    dist: Distance
    targets: int
    attempts: int
    x_all: torch.Tensor   # max(attempts, sweep sizes) target images, one per seed
    x: torch.Tensor       # each target repeated once per attempt
    z0: torch.Tensor      # one initial seed per attempt
    peaks: dict[str, float]
    peak_source: str

    @property
    def n(self) -> int:
        return self.targets * self.attempts

    def run(self, gen: Generator, precision: str, layout: str, zz: torch.Tensor, xx: torch.Tensor, steps: int
            ) -> tuple[float, float, ReconstructionResult]:
        """One timed :func:`reconstruct`: (wall s, CPU s of this process, result)."""
        _sync(self.device)
        t0, c0 = time.perf_counter(), time.process_time()
        res = reconstruct(gen, xx, zz, steps=steps, distance=self.dist, device=self.device, precision=precision,
                          memory_format=layout)
        _sync(self.device)
        return time.perf_counter() - t0, time.process_time() - c0, res


@dataclass
class Timings:
    """Per path: the wall and CPU seconds of every run and the last run's result (one at a time first)."""
    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    results: dict[str, ReconstructionResult] = field(default_factory=dict)

    def add(self, name: str, wall: float, cpu: float, result: ReconstructionResult) -> None:
        self.wall.setdefault(name, []).append(wall)
        self.cpu.setdefault(name, []).append(cpu)
        self.results[name] = result


@dataclass
class Rates:
    """Attempt-steps per wall second (fastest run) and per CPU second of each path."""
    wall: dict[str, float]
    cpu: dict[str, float]


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, dict[str, float], list[int]]:
    """The options, the given peaks and the sweep's batch sizes; a ValueError names a malformed one."""
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
    given = parse_peaks(args.peak_tflops)
    sweep = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    if any(b < 1 for b in sweep):
        raise ValueError(f"--batch-sizes: sizes must be >= 1, got {args.batch_sizes!r}")
    return args, given, sweep


def set_up(args: argparse.Namespace, given: dict[str, float], sweep: list[int]) -> Bench:
    """The device (threads set first), the zoo's generator, its targets and initial seeds; a ValueError names an
    unknown generator (:class:`UnknownGenerator`)."""
    device = bench_device(args)
    gens = {g.id: g for g in load_zoo(args.zoo, device=device)}
    if args.generator not in gens:
        raise UnknownGenerator(f"zoo {args.zoo!r} has no generator {args.generator!r} ({', '.join(gens)})")
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
    return Bench(device, g, dist, args.targets, args.attempts, x_all, x, z0, peaks, peak_source)


def print_header(b: Bench, steps: int) -> None:
    where = torch.cuda.get_device_name(b.device) if b.device.type == "cuda" else \
        f"{torch.get_num_threads()} CPU threads, bf16 instructions: {cpu_bf16_isa() or 'none (emulated)'}"
    g = b.g
    print(f"{g.id} ({g.resolution}x{g.resolution}, latent {g.latent_dim}) on {b.device} ({where}): {b.targets} "
          f"targets x {b.attempts} attempts = {b.n} attempts, {steps} Adam steps each, pixel MSE; "
          f"{load_average()}")
    print(f"peaks: {', '.join(f'{k} {v:.3g} TFLOP/s' for k, v in b.peaks.items()) or 'none'} ({b.peak_source})")


def batched_paths(g: Generator, with_compile: bool) -> dict[str, PathSpec]:
    return {name: (compiled(g) if comp else g, prec, layout) for name, prec, layout, comp in
            BATCHED + (COMPILED if with_compile else [])}


def warm_up(b: Bench, paths: dict[str, PathSpec]) -> None:
    """Warm up every path (allocator, oneDNN kernels; compilation: timed and printed, never counted)."""
    b.run(b.g, "fp32", "contiguous", b.z0[:1], b.x[:1], 2)
    for name, (gen, prec, layout) in paths.items():
        t = b.run(gen, prec, layout, b.z0, b.x, 2)[0]
        if "compiled" in name:
            again = b.run(gen, prec, layout, b.z0, b.x, 2)[0]  # compiled now: the second warm-up is a plain 2-step run
            print(f"(torch.compile of {name}: {t - again:.1f} s compile time in the warm-up, not counted)")


def time_paths(b: Bench, paths: dict[str, PathSpec], steps: int, repeats: int) -> Timings:
    """One attempt at a time once, then every batched path ``repeats`` times, interleaved."""
    timings = Timings()
    t0, c0 = time.perf_counter(), time.process_time()
    single = one_at_a_time(b.g, b.x, b.z0, steps=steps, distance=b.dist, device=b.device)
    _sync(b.device)
    timings.add(ONE, time.perf_counter() - t0, time.process_time() - c0, single)
    for _ in range(repeats):
        for name, (gen, prec, layout) in paths.items():
            timings.add(name, *b.run(gen, prec, layout, b.z0, b.x, steps))
    return timings


def report_table(b: Bench, timings: Timings, steps: int) -> Rates:
    """One line per path (wall s, rates, TFLOP/s, % of peak, exact, distances against batched fp32's)."""
    g, n, dist = b.g, b.n, b.dist
    work = n * steps
    f1, fb = step_flops(g, b.z0[:1], b.x[:1]), step_flops(g, b.z0, b.x)
    ref = timings.results["batched fp32"]
    with torch.no_grad():
        prepared = dist.prepare(b.x)
    rates = Rates({}, {})
    print(f"{'path':32s} {'wall s':>8s} {'attempt-steps/s':>16s} {'TFLOP/s':>9s} {'% peak':>8s} {'exact':>6s} "
          f"{'per CPU-s':>10s}  "
          "max |d - d_fp32| per attempt / per target (min over attempts)")
    for name, ts in timings.wall.items():
        t = min(ts)
        rates.wall[name] = work / t
        rates.cpu[name] = work / min(timings.cpu[name])  # attempt-steps per second of this process's CPU time
        flops = (f1 * n if name.startswith("one") else fb) * steps
        tflops = flops / t / 1e12
        prec = "bf16" if "bf16" in name else "fp32"
        pct = f"{100 * tflops / b.peaks[prec]:7.1f}%" if prec in b.peaks else "      -"
        res = timings.results[name]
        d = res.final_distance
        if name.startswith("one"):  # batch 1 rows: recompute one at a time, as they were recorded
            again = torch.cat([distances_at(g, s[None].to(b.device), pr[None], dist)[1].cpu()
                               for s, pr in zip(res.final_seeds, prepared)])
        else:
            again = distances_at(g, res.final_seeds.to(b.device), prepared, dist)[1].cpu()
        exact = "yes" if torch.equal(again, d) else "NO"
        per_attempt = (d - ref.final_distance).abs().max().item()
        mins = d.view(b.targets, b.attempts).amin(1)
        per_target = (mins - ref.final_distance.view(b.targets, b.attempts).amin(1)).abs().max().item()
        spread = f" (runs: {', '.join(f'{v:.2f}' for v in ts)})" if len(ts) > 1 else ""
        print(f"{name:32s} {t:8.2f} {rates.wall[name]:16.1f} {tflops:9.4f} {pct} {exact:>6s} {rates.cpu[name]:10.1f}  "
              f"{per_attempt:.3g} / "
              f"{per_target:.3g}{spread}")
    print(f"FLOPs per attempt-step: {f1 / 1e6:.1f} M at batch 1, {fb / n / 1e6:.1f} M batched; {load_average()}")
    return rates


def sweep_batches(b: Bench, sizes: list[int], steps: int, repeats: int) -> list[dict[str, object]]:
    """Attempt-steps/s of fp32 and bf16, contiguous and channels_last, per batch size: one printed line per size,
    one CSV row per size and path."""
    g = b.g
    rows: list[dict[str, object]] = []
    for size in sizes:
        xb = b.x_all[:size]
        zb = seeded_latents([derive_seed(0, "bench-sweep", i) for i in range(size)], g.latent_dim, device=b.device)
        line = []
        for prec, layout in SWEEP:
            b.run(g, prec, layout, zb, xb, 2)
            timed = [b.run(g, prec, layout, zb, xb, steps)[:2] for _ in range(max(1, repeats - 1))]
            ts = [t for t, _ in timed]
            rate = size * steps / min(ts)
            line.append(f"{prec}{' CL' if layout == 'channels_last' else ''} {rate:7.1f}")
            rows.append({"generator": g.id, "precision": prec, "memory_format": layout, "batch": size,
                         "attempt_steps_per_s": round(rate, 2),
                         "attempt_steps_per_cpu_s": round(size * steps / min(c for _, c in timed), 2),
                         "steps": steps,
                         "runs_s": " ".join(f"{v:.3f}" for v in ts), "load1": round(os.getloadavg()[0], 2)})
        print(f"batch {size:5d}: attempt-steps/s  {'  '.join(line)}  ({load_average()})")
    return rows


def append_sweep_csv(path: Path, rows: list[dict[str, object]]) -> None:
    """Append the sweep's rows to ``path`` (a new file gets a header; an existing one keeps its columns)."""
    fields = list(rows[0])
    new = not path.exists()
    if not new:  # appended to in the columns it already has
        with path.open(newline="") as fh:
            fields = next(csv.reader(fh), fields)
    with path.open("a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore", restval="")
        if new:
            w.writeheader()
        w.writerows(rows)


def print_ratios(rates: Rates) -> None:
    """The last three lines: batched fp32 / one at a time, best per CPU second, best per wall second (last)."""
    batched = {k: v for k, v in rates.wall.items() if k.startswith("batched")}
    best = max(batched, key=lambda k: batched[k])
    print(f"ratio batched fp32 / one-at-a-time fp32: {rates.wall['batched fp32'] / rates.wall[ONE]:.2f}x")
    best_cpu = max((k for k in rates.cpu if k.startswith("batched")), key=lambda k: rates.cpu[k])
    print(f"per CPU second (threads x busy time, steadier than wall time on a shared machine): best ({best_cpu}) / "
          f"batched fp32: {rates.cpu[best_cpu] / rates.cpu['batched fp32']:.2f}x")
    print(f"ratio best ({best}) / batched fp32: {batched[best] / rates.wall['batched fp32']:.2f}x")


def main(argv: list[str] | None = None) -> int:
    try:
        args, given, sweep = parse_args(argv)
    except ValueError as e:
        return report(e, EXIT_USAGE)
    try:
        bench = set_up(args, given, sweep)
    except UnknownGenerator as e:
        return report(e, EXIT_USAGE)
    print_header(bench, args.steps)
    paths = batched_paths(bench.g, args.compile)
    warm_up(bench, paths)
    rates = report_table(bench, time_paths(bench, paths, args.steps, args.repeats), args.steps)
    rows = sweep_batches(bench, sweep, args.steps, args.repeats)
    if args.sweep_csv is not None and rows:
        append_sweep_csv(args.sweep_csv, rows)
    print_ratios(rates)
    return 0


if __name__ == "__main__":
    sys.exit(main())
