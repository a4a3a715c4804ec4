"""``python -m reconstruction_pipeline build | evaluate | compare | attribute`` (``zoo`` is :mod:`reconstruction_pipeline.zoo`).

Every mistake is one line on stderr: exit code 2 for the command line and its inputs (bad numbers, unknown zoo,
generator or distance, unreadable or wrongly sized image), 1 for problems with the state on disk or the environment
(a bundle built with another configuration, missing feature-extractor weights, an invalid bundle to evaluate).
Nothing is written before every input has been checked.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import torch

from contracts.errors import ContractError
from reconstruction_pipeline.distances import Distance, DistanceError, build_distance, distance_names
from reconstruction_pipeline.generators import resolve_device
from reconstruction_pipeline.sources import GeneratorSource, PipelineError
from reconstruction_pipeline.targets import ImageInputError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (``prog: error: ...``) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _int_range(lo: int, hi: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be >= {lo}, got {v}" if hi is None
                                             else f"must be in {lo}..{hi}, got {v}")
        return v
    return parse


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"{text} must be a finite number > 0")
    return v


def _add_generator_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--zoo", help="zoo of candidate generators (`python -m reconstruction_pipeline zoo list`)")
    p.add_argument("--generator", action="append", default=[], metavar="ID=pkg.mod:factory[:ckpt]",
                   help="a plugin generator (repeatable), beside or instead of --zoo")


def _add_reconstruction_args(p: argparse.ArgumentParser, *, default_seed: int = 0) -> None:
    p.add_argument("--attempts", type=_int_range(1), default=3, help="random initialisations per target x generator")
    p.add_argument("--steps", type=_int_range(1), default=500, help="Adam steps per attempt")
    p.add_argument("--lr", type=_positive_float, default=0.1, help="Adam learning rate (no schedule)")
    p.add_argument("--distance", choices=distance_names(), default="pixel",
                   help="pixel: MSE at the target's resolution; inception: plain L2 of Inception-V3 Mixed_5d features")
    p.add_argument("--feature-weights", metavar="PATH",
                   help="Inception-V3 state dict for --distance inception when torchvision's ImageNet weights are not "
                        "cached ('random': random weights, for tests only)")
    p.add_argument("--seed", type=_int_range(0, 2**63 - 1), default=default_seed,
                   help="derives every target and initial seed (recorded in the output)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")


def make_parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = _Parser(prog="python -m reconstruction_pipeline", formatter_class=fmt,
                     description="Seed reconstruction, attribution and the stimulus bundle (paper section IV).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    b = sub.add_parser("build", formatter_class=fmt, help="synthesise targets, reconstruct, write a stimulus bundle")
    _add_generator_args(b)
    b.add_argument("--targets-per-generator", type=_int_range(1), default=30, help="targets synthesised per generator")
    _add_reconstruction_args(b)
    b.add_argument("--out", required=True, type=Path, help="bundle directory (created; a re-run resumes it)")
    b.add_argument("--display-size", type=_int_range(8, 4096), default=None,
                   help="side in pixels of the display images (default: the generators' resolution)")
    b.add_argument("--resample", choices=["lanczos", "nearest"], default="lanczos",
                   help="Pillow filter for --display-size (nearest keeps tiny images' pixels sharp)")
    b.add_argument("--record-every", type=_int_range(1), default=10, help="loss-curve subsampling in steps")
    b.add_argument("--targets-per-shard", type=_int_range(1), default=32,
                   help="targets per unit of work (x attempts = one batch on one generator); part of the run's identity")
    b.add_argument("--executor", choices=["local", "ray"], default="local", help="where shards run")
    b.add_argument("--ray-workers", type=_int_range(1), default=2, help="Ray actors (each loads the models once)")
    b.add_argument("--ray-address", default=None, help="an existing Ray cluster (default: start a local one)")
    b.add_argument("--threads", type=_int_range(1), default=None, help="torch CPU threads (default: torch's)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")

    e = sub.add_parser("evaluate", formatter_class=fmt, help="accuracy, confusion matrix, accuracy vs attempts")
    e.add_argument("bundle", type=Path)
    e.add_argument("--out", type=Path, default=None, help="where CSV and PNG files go (default: BUNDLE/evaluation)")

    c = sub.add_parser("compare", formatter_class=fmt, help="every attribution method side by side on a bundle")
    c.add_argument("bundle", type=Path)
    c.add_argument("--out", type=Path, default=None, help="where comparison.csv/png go (default: BUNDLE/comparison)")
    c.add_argument("--method", action="append", default=None, help="a method (repeatable; default: all registered)")

    a = sub.add_parser("attribute", formatter_class=fmt, help="attribute image files to a zoo's generators")
    a.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    _add_generator_args(a)
    _add_reconstruction_args(a)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        if args.command == "build":
            return cmd_build(args)
        if args.command == "evaluate":
            return cmd_evaluate(args)
        if args.command == "compare":
            return cmd_compare(args)
        return cmd_attribute(args)
    except PipelineError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except (DistanceError, ContractError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ImageInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished work is kept; re-run the same command to resume", file=sys.stderr)
        return 130


def _device(name: str) -> torch.device:
    try:
        return resolve_device(name)
    except ValueError as e:
        raise PipelineError(str(e), exit_code=2) from None


def _distance(args: argparse.Namespace, device: torch.device) -> Distance:
    return build_distance(args.distance, device=device, feature_weights=args.feature_weights)


def cmd_build(args: argparse.Namespace) -> int:
    from reconstruction_pipeline.bundle_builder import BuildOptions, Runner, build_bundle
    from reconstruction_pipeline.executors import ShardWorker, WorkSpec
    from reconstruction_pipeline.shards import Settings

    if args.threads:
        torch.set_num_threads(args.threads)
    device = _device(args.device)
    source = GeneratorSource(args.zoo, tuple(args.generator))
    generators = source.load(device=device)  # unknown zoo / plugin: one line, before anything is written
    distance = _distance(args, device)  # missing weights: one line, before anything is written
    options = BuildOptions(targets_per_generator=args.targets_per_generator, attempts=args.attempts, steps=args.steps,
                           lr=args.lr, distance=args.distance, seed=args.seed, feature_weights=args.feature_weights,
                           display_size=args.display_size, resample=args.resample, record_every=args.record_every,
                           targets_per_shard=args.targets_per_shard)
    spec = WorkSpec(source, args.distance, args.feature_weights, Settings(args.steps, args.lr, args.record_every),
                    args.device)
    worker = ShardWorker(spec, device, generators, distance) if args.executor == "local" else None
    runner = Runner(args.executor, spec, worker, ray_workers=args.ray_workers, ray_address=args.ray_address)
    bundle = build_bundle(args.out, generators=generators, source=source.describe(), distance=distance, device=device,
                          options=options, runner=runner, progress=not args.no_progress)
    print(f"bundle written: {bundle.root} ({len(bundle.targets)} targets x {len(bundle.generator_ids)} generators x "
          f"{bundle.attempts} attempts)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from contracts.bundle import read_bundle
    from reconstruction_pipeline.evaluate import evaluate_bundle, report_text, write_evaluation

    bundle = read_bundle(args.bundle)
    ev = evaluate_bundle(bundle)
    out = args.out if args.out is not None else args.bundle / "evaluation"
    written = write_evaluation(ev, out)
    print(f"written to {out}: {', '.join(p.name for p in written)}\n")
    print(report_text(ev))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from contracts.bundle import read_bundle
    from reconstruction_pipeline.compare import compare_bundle, table_text, write_comparison

    bundle = read_bundle(args.bundle)
    try:
        rows = compare_bundle(bundle, args.method)
    except ValueError as e:  # unknown method, missing or bad fingerprint codec: one line
        raise PipelineError(str(e), exit_code=2) from None
    out = args.out if args.out is not None else args.bundle / "comparison"
    written = write_comparison(rows, out, title=f"{args.bundle.name}: {len(bundle.targets)} targets")
    print(f"written to {out}: {', '.join(p.name for p in written)}\n")
    print(table_text(rows))
    return 0


def cmd_attribute(args: argparse.Namespace) -> int:
    from reconstruction_pipeline.attribution import attribute_images
    from reconstruction_pipeline.targets import load_user_image

    device = _device(args.device)
    generators = GeneratorSource(args.zoo, tuple(args.generator)).load(device=device)
    resolution = generators[0].resolution
    images = torch.cat([load_user_image(p, resolution=resolution) for p in args.images])  # checked before any work
    distance = _distance(args, device)
    results = attribute_images([str(p) for p in args.images], images, generators, attempts=args.attempts,
                               steps=args.steps, lr=args.lr, distance=distance, seed=args.seed, device=device)
    for r in results:
        dists = "  ".join(f"{g}={d:.6g}" for g, d in r.best_distance.items())
        print(f"{r.name}: {r.attributed}   (best {args.distance} distance per generator: {dists})")
    return 0
