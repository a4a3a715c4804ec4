"""``python -m reconstruction_pipeline build | evaluate | compare | attribute`` (``zoo`` is :mod:`reconstruction_pipeline.zoo`).

Every mistake is one line on stderr: exit code 2 for the command line and its inputs (bad numbers, unknown zoo,
generator or distance, unreadable or wrongly sized image), 1 for problems with the state on disk or the environment
(a bundle built with another configuration, missing feature-extractor weights, an invalid bundle to evaluate).
Nothing is written before every input has been checked.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from contracts.cli import DEFAULTS_HELP, add_commands, int_range, make_parser as one_line_parser, positive_float
from contracts.errors import ContractError
from provenance.c2pa_credentials import CredentialError
from provenance.log import LogError
from provenance.verify import VerifyError
from reconstruction_pipeline.distances import Distance, DistanceError, build_distance, distance_names
from reconstruction_pipeline.errors import Failure, PipelineError, run_command
from reconstruction_pipeline.generators import Generator, resolve_device
from reconstruction_pipeline.memory_format import resolve_memory_format
from reconstruction_pipeline.sources import GeneratorSource
from reconstruction_pipeline.targets import SEED_MAX, ImageInputError

SEED = int_range(0, SEED_MAX)  # the type of every --seed


def _add_generator_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--zoo", help="zoo of candidate generators (`python -m reconstruction_pipeline zoo list`)")
    p.add_argument("--generator", action="append", default=[], metavar="ID=pkg.mod:factory[:ckpt]",
                   help="a plugin generator (repeatable), beside or instead of --zoo")


def _add_reconstruction_args(p: argparse.ArgumentParser, *, default_seed: int = 0) -> None:
    p.add_argument("--attempts", type=int_range(1), default=3, help="random initialisations per target x generator")
    p.add_argument("--steps", type=int_range(1), default=500, help="Adam steps per attempt")
    p.add_argument("--lr", type=positive_float, default=0.1, help="Adam learning rate (no schedule)")
    p.add_argument("--distance", choices=distance_names(), default="pixel",
                   help="pixel: MSE at the target's resolution; inception: plain L2 of Inception-V3 Mixed_5d features")
    p.add_argument("--feature-weights", metavar="PATH",
                   help="Inception-V3 state dict for --distance inception when torchvision's ImageNet weights are not "
                        "cached ('random': random weights, for tests only)")
    p.add_argument("--seed", type=SEED, default=default_seed,
                   help="derives every target and initial seed (recorded in the output)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    add_precision_argument(p)


def add_precision_argument(p: argparse.ArgumentParser) -> None:
    """``--precision`` for every command that runs reconstructions (robustness and attack sweeps reuse it)."""
    from reconstruction_pipeline.precision import DEFAULT, PRECISIONS

    p.add_argument("--precision", choices=PRECISIONS, default=DEFAULT,
                   help="arithmetic of the Adam search: bf16 (autocast; seeds and Adam state stay fp32), fp32, or "
                        "auto = bf16 where the device multiplies bf16 natively (AVX-512 BF16 / AMX CPU, CUDA compute "
                        "capability >= 8), else fp32; recorded distances and decisions are always recomputed in fp32")


def add_memory_format_argument(p: argparse.ArgumentParser) -> None:
    """``--memory-format``: the layout of the search (:mod:`reconstruction_pipeline.memory_format`)."""
    from reconstruction_pipeline.memory_format import CHOICES, DEFAULT

    p.add_argument("--memory-format", choices=CHOICES, default=DEFAULT,
                   help="layout of the Adam search's generator and targets: channels_last (NHWC) or contiguous; auto = "
                        "channels_last for a bf16 search on a CPU (measured faster there), else contiguous; recorded "
                        "distances are computed with the contiguous generator either way")


def make_parser() -> argparse.ArgumentParser:
    fmt = DEFAULTS_HELP
    parser = one_line_parser("python -m reconstruction_pipeline",
                             "Seed reconstruction, attribution and the stimulus bundle (paper section IV).")
    sub = add_commands(parser)

    b = sub.add_parser("build", formatter_class=fmt, help="synthesise targets, reconstruct, write a stimulus bundle")
    _add_generator_args(b)
    b.add_argument("--targets-per-generator", type=int_range(1), default=30, help="targets synthesised per generator")
    _add_reconstruction_args(b)
    add_memory_format_argument(b)
    b.add_argument("--out", required=True, type=Path, help="bundle directory (created; a re-run resumes it)")
    b.add_argument("--display-size", type=int_range(8, 4096), default=None,
                   help="side in pixels of the display images (default: the generators' resolution)")
    b.add_argument("--resample", choices=["lanczos", "nearest"], default="lanczos",
                   help="Pillow filter for --display-size (nearest keeps tiny images' pixels sharp)")
    b.add_argument("--record-every", type=int_range(1), default=10, help="loss-curve subsampling in steps")
    b.add_argument("--targets-per-shard", type=int_range(1), default=32,
                   help="targets per unit of work (x attempts = one batch on one generator); part of the run's identity")
    b.add_argument("--conditions", default=None, metavar="SPECS",
                   help="comma-separated conditions every source target is put under, e.g. clean,jpeg:q=50,mirror, "
                        "or a preset (paper = Table I); writes schema_version 2 (default: clean only, version 1). "
                        "Kinds: `python -m reconstruction_pipeline conditions`")
    b.add_argument("--executor", choices=["local", "ray"], default="local", help="where shards run")
    b.add_argument("--ray-workers", type=int_range(1), default=2, help="Ray actors (each loads the models once)")
    b.add_argument("--ray-address", default=None, help="an existing Ray cluster (default: start a local one)")
    b.add_argument("--threads", type=int_range(1), default=None, help="torch CPU threads (default: torch's)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")

    e = sub.add_parser("evaluate", formatter_class=fmt, help="accuracy, confusion matrix, accuracy vs attempts")
    e.add_argument("bundle", type=Path)
    e.add_argument("--out", type=Path, default=None, help="where CSV and PNG files go (default: BUNDLE/evaluation)")
    e.add_argument("--also-mirrored", action="store_true",
                   help="add the mirror countermeasure as its own row: attribute a mirrored target and its mirror "
                        "(its clean source), the smaller distance per generator (needs conditions clean and mirror)")

    c = sub.add_parser("compare", formatter_class=fmt, help="every attribution method side by side on a bundle")
    c.add_argument("bundle", type=Path)
    c.add_argument("--out", type=Path, default=None, help="where comparison.csv/png go (default: BUNDLE/comparison)")
    c.add_argument("--method", action="append", default=None, help="a method (repeatable; default: all registered)")

    a = sub.add_parser("attribute", formatter_class=fmt, help="attribute image files to a zoo's generators")
    a.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    a.add_argument("--also-mirrored", action="store_true",
                   help="the mirror countermeasure (paper VI-B): also reconstruct each image's mirror image and take, "
                        "per generator, the smaller distance (twice the work)")
    _add_generator_args(a)
    _add_reconstruction_args(a)
    add_memory_format_argument(a)

    sub.add_parser("conditions", formatter_class=fmt, help="list the condition kinds and presets for --conditions")
    _add_provenance_parsers(sub, b, fmt)
    return parser


# how a failure becomes one line and an exit code (the attack commands add theirs): the first entry that matches
FAILURES: tuple[Failure, ...] = (
    ((PipelineError, LogError, CredentialError), None, ""),
    ((VerifyError,), None, "the log export does not verify: "),
    ((DistanceError, ContractError), 1, ""),
    ((ImageInputError,), 2, ""),
)


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    return run_command(lambda: _dispatch(args), FAILURES,
                       interrupted="interrupted: finished work is kept; re-run the same command to resume")


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "build":
        return cmd_build(args)
    if args.command == "evaluate":
        return cmd_evaluate(args)
    if args.command in PROVENANCE_COMMANDS:
        return PROVENANCE_COMMANDS[args.command](args)
    if args.command == "conditions":
        return cmd_conditions()
    if args.command == "compare":
        return cmd_compare(args)
    return cmd_attribute(args)


def _device(name: str) -> torch.device:
    try:
        return resolve_device(name)
    except ValueError as e:
        raise PipelineError(str(e), exit_code=2) from None


def resolved_precision(name: str, device: torch.device, generators: Sequence[Generator] = (),
                       distance: Distance | None = None) -> str:
    """``--precision`` resolved for ``device`` and the work (fp32 | bf16); an unusable one is one line, exit 2.
    Call it once without ``generators`` to check the name before loading anything, then with them for ``auto``."""
    from reconstruction_pipeline.precision import PrecisionError, fast_bf16, resolve_precision, step_mflop

    try:
        mflop = None
        if name == "auto" and distance is not None and fast_bf16(device):
            mflop = step_mflop(generators, distance, device)
        return resolve_precision(name, device, mflop=mflop)
    except PrecisionError as e:
        raise PipelineError(str(e), exit_code=2) from None


def resolved_search(precision: str, memory_format: str, device: torch.device, generators: Sequence[Generator],
                    distance: Distance, earlier: tuple[str, str] | None = None) -> tuple[str, str]:
    """``--precision`` and ``--memory-format`` resolved for the work (fp32 | bf16, contiguous | channels_last);
    ``earlier``: the (precision, memory format) a run in --out was started with, which an ``auto`` continues."""
    if earlier is not None:
        precision = earlier[0] if precision == "auto" else precision
        memory_format = earlier[1] if memory_format == "auto" else memory_format
    resolved = resolved_precision(precision, device, generators, distance)
    return resolved, resolve_memory_format(memory_format, resolved, device)


def _distance(args: argparse.Namespace, device: torch.device) -> Distance:
    return build_distance(args.distance, device=device, feature_weights=args.feature_weights)


def _conditions(text: str | None) -> tuple[str, ...] | None:
    from reconstruction_pipeline.conditions import ConditionError, parse_condition_list

    if text is None:
        return None
    try:
        return tuple(rc.name for rc in parse_condition_list(text))
    except ConditionError as e:
        raise PipelineError(f"--conditions: {e}", exit_code=2) from None


def cmd_build(args: argparse.Namespace) -> int:
    from reconstruction_pipeline.bundle_builder import BuildOptions, Runner, build_bundle, recorded_search
    from reconstruction_pipeline.shards import ReconstructionSettings

    conditions = _conditions(args.conditions)  # a bad spec: one line, before anything is loaded or written
    if args.threads:
        torch.set_num_threads(args.threads)
    device = _device(args.device)
    resolved_precision(args.precision, device)  # bf16 where there is none: one line, before loading anything
    source = GeneratorSource(args.zoo, tuple(args.generator))
    generators = source.load(device=device)  # unknown zoo / plugin: one line, before anything is written
    from reconstruction_pipeline.attacks.conditions import check_conditions
    check_conditions(conditions, [g.id for g in generators])  # e.g. a framing target not among the generators
    distance = _distance(args, device)  # missing weights: one line, before anything is written
    earlier = recorded_search(args.out)   # 'auto' continues an earlier build in --out the way it was started
    kept = earlier is not None and "auto" in (args.precision, args.memory_format)
    precision, memory_format = resolved_search(args.precision, args.memory_format, device, generators, distance,
                                               earlier)
    settings = ReconstructionSettings(steps=args.steps, lr=args.lr, distance=args.distance,
                                      feature_weights=args.feature_weights, record_every=args.record_every,
                                      precision=precision, memory_format=memory_format)
    options = BuildOptions(targets_per_generator=args.targets_per_generator, attempts=args.attempts, seed=args.seed,
                           reconstruction=settings, display_size=args.display_size, resample=args.resample,
                           targets_per_shard=args.targets_per_shard, conditions=conditions)
    runner = Runner(args.executor, args.device, ray_workers=args.ray_workers, ray_address=args.ray_address)
    on_targets = _ledger_hook(args.ledger, generators, args.out, device)  # opens the log before any work
    bundle = build_bundle(args.out, generators=generators, source=source, distance=distance, device=device,
                          options=options, runner=runner, progress=not args.no_progress, on_targets=on_targets)
    print(f"bundle written: {bundle.root} ({len(bundle.targets)} targets x {len(bundle.generator_ids)} generators x "
          f"{bundle.attempts} attempts; {precision} {memory_format} search"
          f"{' (auto: as the build in --out was started)' if kept else ''}, fp32 distances)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from contracts.bundle import read_bundle
    from reconstruction_pipeline.evaluate import (EvaluationError, conditions_text, evaluate_bundle, evaluate_conditions,
                                                  report_text, write_evaluation)

    bundle = read_bundle(args.bundle)
    ev = evaluate_bundle(bundle)
    try:
        conditions = (evaluate_conditions(bundle, also_mirrored=args.also_mirrored)
                      if bundle.manifest.schema_version >= 2 or args.also_mirrored else [])
    except EvaluationError as e:
        raise PipelineError(str(e), exit_code=1) from None
    out = args.out if args.out is not None else args.bundle / "evaluation"
    written = write_evaluation(ev, out, conditions)
    print(f"written to {out}: {', '.join(p.name for p in written)}\n")
    if conditions:
        print(conditions_text(conditions) + "\n")
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
    resolved_precision(args.precision, device)
    generators = GeneratorSource(args.zoo, tuple(args.generator)).load(device=device)
    resolution = generators[0].resolution
    images = torch.cat([load_user_image(p, resolution=resolution) for p in args.images])  # checked before any work
    distance = _distance(args, device)
    precision, memory_format = resolved_search(args.precision, args.memory_format, device, generators, distance)
    names = [str(p) for p in args.images]
    results = attribute_images(names, images, generators, attempts=args.attempts,
                               steps=args.steps, lr=args.lr, distance=distance, seed=args.seed, device=device,
                               precision=precision, memory_format=memory_format)
    distances = [dict(r.distances) for r in results]
    if args.also_mirrored:
        from contracts.bundle import attribute
        from reconstruction_pipeline.perturbations import mirror

        flipped = attribute_images(names, mirror(images), generators, attempts=args.attempts, steps=args.steps,
                                   lr=args.lr, distance=distance, seed=args.seed, device=device,
                                   precision=precision, memory_format=memory_format)
        distances = [{g: min(d, f.distances[g]) for g, d in b.items()} for b, f in zip(distances, flipped)]
        attributed = attribute((str(i), g, d) for i, b in enumerate(distances) for g, d in b.items())
    else:
        attributed = {str(i): r.attributed for i, r in enumerate(results)}
    label = "image or its mirror" if args.also_mirrored else "image"
    for i, name in enumerate(names):
        dists = "  ".join(f"{g}={d:.6g}" for g, d in distances[i].items())
        print(f"{name}: {attributed[str(i)]}   (best {args.distance} distance per generator, {label}: {dists})")
    return 0


def cmd_conditions() -> int:
    from reconstruction_pipeline.conditions import kinds, presets

    print("clean            (clean) the target as synthesised")
    for name, kind in sorted(kinds().items()):
        print(f"{name:<16} ({kind.category}) {kind.summary}; write {kind.usage()}")
    for name, specs in sorted(presets().items()):
        print(f"preset {name}: {','.join(specs)}")
    return 0


# --------------------------------------------------------------------------------- provenance (paper section VII)

def _add_provenance_parsers(sub: Any, build: argparse.ArgumentParser, fmt: type[argparse.HelpFormatter]) -> None:
    build.add_argument("--ledger", type=Path, default=None, metavar="LOG",
                       help="log every synthesised target in this provenance log (python -m provenance init)")
    g = sub.add_parser("generate", formatter_class=fmt, help="generate images from seeds; with --ledger, log each one")
    g.add_argument("--generator", required=True, metavar="ID | ID=pkg.mod:factory[:ckpt]",
                   help="a zoo generator id (zoo list) or a plugin")
    g.add_argument("-n", type=int_range(1), required=True, help="number of images")
    g.add_argument("--seed", type=SEED, default=0, help="derives every image's seed")
    g.add_argument("--out", type=Path, required=True, help="new or empty directory for the PNGs (and reveals.jsonl)")
    g.add_argument("--ledger", type=Path, default=None, metavar="LOG", help="provenance log to append the entries to")
    g.add_argument("--batch-size", type=int_range(1), default=64)
    g.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    g.add_argument("--c2pa-cert", type=Path, default=None, metavar="CERT",
                   help="★ embed signed C2PA credentials (certificate chain PEM, python -m provenance keygen-c2pa)")
    g.add_argument("--c2pa-key", type=Path, default=None, metavar="KEY", help="the C2PA signer's private key (PEM)")
    a = sub.add_parser("audit", formatter_class=fmt,
                       help="audit a suspect image against a published provenance log and its reveals")
    a.add_argument("--log", type=Path, required=True, metavar="DIR", help="the export (entries.jsonl, checkpoint, vkey)")
    a.add_argument("--vkey", type=Path, default=None, help="the log's verifier key obtained independently")
    a.add_argument("--reveals", type=Path, required=True, metavar="FILE", help="the developer's reveals.jsonl")
    a.add_argument("--suspect", type=Path, required=True, metavar="IMG")
    _add_generator_args(a)
    _add_reconstruction_args(a)  # with --zoo: the attribution's search (--precision included)
    add_memory_format_argument(a)
    a.add_argument("--batch-size", type=int_range(1), default=64, help="regeneration batch size")
    a.add_argument("--report", type=Path, default=None, help="write the JSON report here (default: print it)")


def _load_one(spec: str, device: torch.device) -> Generator:
    if "=" in spec:
        return GeneratorSource(None, (spec,)).load(device=device)[0]
    return _zoo_generator(spec, device)


def _zoo_generator(gen_id: str, device: torch.device) -> Generator:
    from reconstruction_pipeline.zoo import ZooError, load_generator

    try:
        return load_generator(gen_id, device=device)
    except ZooError as e:
        raise PipelineError(str(e), exit_code=2) from None


def _open_ledger(path: Path | None) -> Any:
    from provenance.log import Log

    return None if path is None else Log.open(path)


def _ledger_hook(path: Path | None, generators: Sequence[Generator], out: Path,
                 device: torch.device) -> Callable[[Any], None] | None:
    ledger = _open_ledger(path)
    if ledger is None:
        return None

    def hook(targets: Any) -> None:
        from reconstruction_pipeline.generate import ledger_targets

        n = ledger_targets(ledger, generators, targets, out / ".work", device)
        print(f"ledger: {n} targets logged in {path} (reveals: {out / '.work' / 'reveals.jsonl'}, private)"
              if n else f"ledger: targets already logged (reveals in {out / '.work'})")
    return hook


def cmd_generate(args: argparse.Namespace) -> int:
    from PIL import Image

    from contracts.atomic import atomic_write_bytes
    from provenance.c2pa_credentials import C2paSigner, manifest_definition, sign_png
    from provenance.entry import pixel_sha256
    from reconstruction_pipeline.bundle_builder import png_bytes
    from reconstruction_pipeline.generate import (REVEALS_FILE, generation_seed, log_generations, make_logged,
                                                  model_sha256, params_generate, render, write_png)

    device = _device(args.device)
    g = _load_one(args.generator, device)
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        raise PipelineError(f"--out {args.out}: exists and is not an empty directory", exit_code=2)
    ledger = _open_ledger(args.ledger)  # a bad log: one line, before any work
    signer = None
    if args.c2pa_cert is not None or args.c2pa_key is not None:
        if args.c2pa_cert is None or args.c2pa_key is None:
            raise PipelineError("give both --c2pa-cert and --c2pa-key (python -m provenance keygen-c2pa DIR)",
                                exit_code=2)
        signer = C2paSigner.load(args.c2pa_cert, args.c2pa_key)
    seeds = [generation_seed(args.seed, g.id, i) for i in range(args.n)]
    params = params_generate(device)
    pixels = render(g, seeds, params, device=device, batch_size=args.batch_size)
    files = [f"{i:06d}.png" for i in range(args.n)]
    items = make_logged(g.id, model_sha256(g), seeds, pixels, params) if ledger is not None else []
    # logged first, released after: every image on disk has its durable entry (and its reveal)
    args.out.mkdir(parents=True, exist_ok=True)
    idx = log_generations(ledger, items, args.out / REVEALS_FILE, files) if ledger is not None else []
    for k, (f, px) in enumerate(zip(files, pixels)):
        if signer is None:
            write_png(args.out / f, px)
        else:
            definition = manifest_definition(generator=g.id, origin=ledger.origin if ledger else None,
                                             index=idx[k] if idx else None,
                                             image_sha256=pixel_sha256(px.tobytes()))
            atomic_write_bytes(args.out / f, sign_png(png_bytes(Image.fromarray(px, mode="RGB")), signer, definition))
    signed = " with C2PA credentials" if signer is not None else ""
    if ledger is None:
        print(f"{args.n} images from {g.id} in {args.out}{signed} (not logged: no --ledger)")
        return 0
    print(f"{args.n} images from {g.id} in {args.out}{signed}; logged as entries {idx[0]}..{idx[-1]} of "
          f"{ledger.origin} (size {ledger.size}); reveals in {args.out / REVEALS_FILE} (private: keep it for audits)")
    ledger.close()
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    import json

    from contracts.atomic import atomic_write_text
    from reconstruction_pipeline.attribution import attribute_images
    from reconstruction_pipeline.audit import (add_attribution, audit, load_log, load_suspect, match_reveals,
                                               read_reveals, to_tensor)

    device = _device(args.device)
    resolved_precision(args.precision, device)  # bf16 where there is none: one line, before any work
    v = load_log(args.log, args.vkey)
    reveals = match_reveals(v, read_reveals(args.reveals))
    suspect = load_suspect(args.suspect)
    plugins = {spec.split("=", 1)[0]: spec for spec in args.generator}
    ids = sorted({r.reveal["generator"] for r in reveals.values()})
    # ids come from the (untrusted) log: only the user's own --generator specs are imported, any other id must be
    # a zoo generator's (an id like "x=pkg.mod:f" from a log never names code to import)
    generators = {i: _load_one(plugins[i], device) if i in plugins else _zoo_generator(i, device) for i in ids}
    report = audit(v, reveals, generators, suspect, device=device, batch_size=args.batch_size)
    if args.zoo is not None:
        zoo = GeneratorSource(args.zoo, ()).load(device=device)
        r = zoo[0].resolution
        if suspect.shape[:2] == (r, r):
            distance = _distance(args, device)
            precision, memory_format = resolved_search(args.precision, args.memory_format, device, zoo, distance)
            res = attribute_images([str(args.suspect)], to_tensor(suspect[None]), zoo, attempts=args.attempts,
                                   steps=args.steps, lr=args.lr, distance=distance, seed=args.seed,
                                   device=device, precision=precision, memory_format=memory_format)[0]
            add_attribution(report, args.zoo, res.attributed, res.distances)
            report["attribution"].update(precision=precision, memory_format=memory_format, distances_precision="fp32")
        else:
            report["attribution"] = {"zoo": args.zoo, "skipped": f"the suspect is not {r}x{r}"}
    text = json.dumps(report, indent=2)
    print(report["verdict"])
    if args.report is not None:
        atomic_write_text(args.report, text + "\n")
    else:
        print(text)
    return 1 if report["reveals"]["problems"] else 0


PROVENANCE_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"generate": cmd_generate, "audit": cmd_audit}
