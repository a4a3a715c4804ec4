"""``python -m reconstruction_pipeline attack list | run | figures | image | train-classifier``.

Every mistake is one line on stderr: exit code 2 for the command line and its inputs (unknown attack, non-positive
budget, framing target not in the zoo, a seed attack on a user's image), 1 for the state on disk or the environment
(missing classifier weights, missing feature weights). Nothing is written before every input has been checked.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from contracts.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from contracts.cli import DEFAULTS_HELP, add_commands, int_range, make_parser as one_line_parser, positive_float
from reconstruction_pipeline.cli import (FAILURES, SEED, _add_generator_args, _device, _distance,
                                         add_memory_format_argument, add_precision_argument, resolved_precision,
                                         resolved_search)
from reconstruction_pipeline.distances import distance_names
from reconstruction_pipeline.errors import PipelineError, run_command
from reconstruction_pipeline.sources import GeneratorSource

if TYPE_CHECKING:
    from reconstruction_pipeline.attacks import AttackContext, AttackSpec


def _specs(texts: Sequence[str], generator_ids: Sequence[str]) -> list[AttackSpec]:
    from reconstruction_pipeline.attacks import AttackError, parse_attack

    specs = []
    for t in texts:
        try:
            specs.append(parse_attack(t, generator_ids=generator_ids))
        except AttackError as e:
            raise PipelineError(str(e), exit_code=2) from None
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise PipelineError(f"attack {dup[0]} given twice", exit_code=2)
    return specs


def _add_attribution_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--attempts", type=int_range(1), default=3, help="the attribution's attempts per generator")
    p.add_argument("--steps", type=int_range(1), default=200, help="the attribution's Adam steps per attempt")
    p.add_argument("--lr", type=positive_float, default=0.1, help="Adam learning rate of every reconstruction")
    p.add_argument("--attacker-attempts", type=int_range(1), default=2,
                   help="attempts of the attacker's own reconstructions (evade, frame)")
    p.add_argument("--attacker-steps", type=int_range(1), default=100, help="steps of the attacker's reconstructions")
    p.add_argument("--oracle-attempts", type=int_range(1), default=None,
                   help="attempts of the attribution framing checks against (default: --attempts)")
    p.add_argument("--oracle-steps", type=int_range(1), default=None,
                   help="steps of the attribution framing checks against (default: --steps)")
    p.add_argument("--distance", choices=distance_names(), default="pixel", help="the attribution's distance")
    p.add_argument("--feature-weights", metavar="PATH", help="Inception-V3 state dict for --distance inception")
    p.add_argument("--seed", type=SEED, default=0, help="derives every seed of the run")
    p.add_argument("--classifier", default=None, metavar="PATH|auto",
                   help="DCT classifier weights (auto: reconstruction_pipeline/attacks/weights/dct-ZOO.pt); loaded "
                        "automatically when a clf-* attack is asked for")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    p.add_argument("--threads", type=int_range(1), default=None, help="torch CPU threads (default: torch's)")
    add_precision_argument(p)  # the attribution's seed searches; the attack itself (its gradients, the attacker's
    add_memory_format_argument(p)  # own reconstructions) stays fp32


def make_parser() -> argparse.ArgumentParser:
    from reconstruction_pipeline.attacks import attack_names

    fmt = DEFAULTS_HELP
    parser = one_line_parser("python -m reconstruction_pipeline attack",
                             "Adversaries against the attribution (paper section VI-C, framing, evasion).")
    sub = add_commands(parser)
    sub.add_parser("list", help="the attack kinds and their parameters")

    r = sub.add_parser("run", formatter_class=fmt, help="attack a zoo's targets, attribute every attacked image")
    _add_generator_args(r)
    r.add_argument("--targets-per-generator", type=int_range(1), default=10, help="targets per generator")
    r.add_argument("--attack", action="extend", nargs="+", default=[], metavar="SPEC", required=True,
                   help=f"attack specs, e.g. fgsm-image:eps=0.03 frame:target=ID,l2=4 (kinds: "
                        f"{', '.join(attack_names())})")
    _add_attribution_args(r)
    r.add_argument("--framing-budgets", type=positive_float, nargs="+", default=[0.5, 1, 2, 4],
                   help="l2 budgets of the framing table")
    r.add_argument("--out", type=Path, required=True, help="directory (a re-run resumes the attacks not yet done)")

    f = sub.add_parser("figures", formatter_class=fmt, help="figures and tables from a run's attacks.csv")
    f.add_argument("run", type=Path)
    f.add_argument("--framing-budgets", type=positive_float, nargs="+", default=[0.5, 1, 2, 4])

    i = sub.add_parser("image", formatter_class=fmt, help="attack image files (no seed: image-space attacks only)")
    i.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    _add_generator_args(i)
    i.add_argument("--attack", required=True, metavar="SPEC")
    _add_attribution_args(i)
    i.add_argument("--out", type=Path, required=True, help="directory for the attacked PNGs")

    t = sub.add_parser("train-classifier", formatter_class=fmt,
                       help="train the DCT classifier on unlimited samples of a zoo's generators")
    t.add_argument("--zoo", required=True)
    t.add_argument("--steps", type=int_range(1), default=300)
    t.add_argument("--batch-per-generator", type=int_range(1), default=32)
    t.add_argument("--lr", type=positive_float, default=1e-3)
    t.add_argument("--width", type=int_range(1), default=16)
    t.add_argument("--seed", type=SEED, default=0)
    t.add_argument("--out", type=Path, default=None, help="weights file (default: attacks/weights/dct-ZOO.pt)")
    t.add_argument("--device", default="auto")
    t.add_argument("--threads", type=int_range(1), default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from reconstruction_pipeline.attacks import AttackError

    words = list(sys.argv[1:] if argv is None else argv)
    args = make_parser().parse_args(words)
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)

    def dispatch() -> int:
        if args.command == "list":
            return cmd_list()
        if args.command == "run":
            return cmd_run(args)
        if args.command == "figures":
            return cmd_figures(args)
        if args.command == "image":
            return cmd_image(args)
        return cmd_train(args, words)

    return run_command(dispatch, (*FAILURES, ((AttackError,), 2, "")),
                       interrupted="interrupted: finished attacks are kept; re-run the same command to resume")


def cmd_list() -> int:
    from reconstruction_pipeline.attacks import ATTACKS

    for name in sorted(ATTACKS):
        k = ATTACKS[name]
        params = ", ".join(f"{p}{'' if p in k.budgets else ('?' if p in k.optional else '')}" for p in k.params)
        print(f"{name:<11} [{params}]  {k.summary}")
    return 0


def _context(args: argparse.Namespace,
             earlier: tuple[str, str] | None = None) -> tuple[AttackContext, list[str]]:
    """The context of ``args``; ``earlier``: the (precision, memory format) a run in --out was started with, which an
    ``auto`` continues (as ``build`` does)."""
    from reconstruction_pipeline.attacks import AttackContext, AttributionSettings

    device = _device(args.device)
    resolved_precision(args.precision, device)  # bf16 where there is none: one line, before loading anything
    gens = GeneratorSource(args.zoo, tuple(args.generator)).load(device=device)
    ids = [g.id for g in gens]
    distance = _distance(args, device)
    precision, memory_format = resolved_search(args.precision, args.memory_format, device, gens, distance, earlier)
    return AttackContext(
        gens, distance, device, precision=precision, memory_format=memory_format,
        attribution=AttributionSettings(args.attempts, args.steps, args.lr, args.seed),
        attacker=AttributionSettings(args.attacker_attempts, args.attacker_steps, args.lr, args.seed),
        oracle=(None if args.oracle_attempts is None and args.oracle_steps is None else
                AttributionSettings(args.oracle_attempts or args.attempts, args.oracle_steps or args.steps, args.lr,
                                    args.seed))), ids


def _classifier(args: argparse.Namespace, needed: bool, device: torch.device) -> torch.nn.Module | None:
    from reconstruction_pipeline.attacks.classifier import load_classifier, weights_file

    path = args.classifier
    if path is None and not needed:
        return None
    if path in (None, "auto"):
        if args.zoo is None:
            raise PipelineError("--classifier PATH is needed with plugin generators (auto works for a --zoo)",
                                exit_code=2)
        path = weights_file(args.zoo)
    return load_classifier(path, device=device)[0]


def _recorded_run(cfg: Path) -> dict[str, Any] | None:
    """An earlier run's run.json (None when there is none), its ``run`` settings completed with the search it ran
    in before these were recorded: fp32, contiguous."""
    if not cfg.is_file():
        return None
    try:
        old = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise PipelineError(f"{cfg}: unreadable; choose another --out", exit_code=1) from None
    run = old.get("run") if isinstance(old, dict) else None
    if not isinstance(run, dict):
        raise PipelineError(f"{cfg}: not a run's settings; choose another --out", exit_code=1)
    run.setdefault("precision", "fp32")
    run.setdefault("memory_format", "contiguous")
    return old


def cmd_run(args: argparse.Namespace) -> int:
    from reconstruction_pipeline.attacks import AttackBatch
    from reconstruction_pipeline.attacks.experiment import run_sweep, summarize, summary_text
    from reconstruction_pipeline.attacks.figures import write_figures
    from reconstruction_pipeline.generators import seeded_latents
    from reconstruction_pipeline.targets import synthesize_targets

    cfg = args.out / "run.json"
    old = _recorded_run(cfg)
    ctx, ids = _context(args, None if old is None else (old["run"]["precision"], old["run"]["memory_format"]))
    specs = _specs(args.attack, ids)  # every spec checked before any work
    clf = _classifier(args, any(s.attack.needs_classifier for s in specs), ctx.device)
    if clf is not None:
        if list(getattr(clf, "classes")) != ids:
            raise PipelineError(f"--classifier was trained on {list(getattr(clf, 'classes'))}, not on {ids}",
                                exit_code=2)
        ctx = dataclasses.replace(ctx, classifier=clf)
    run: dict[str, Any] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                           if k not in ("attack", "out", "threads", "framing_budgets")}
    # the search as resolved (fp32 | bf16, contiguous | channels_last), not as asked: a resume in another precision
    # is refused, and 'auto' continues the run the way it was started
    run.update(precision=ctx.precision, memory_format=ctx.memory_format)
    identity = {"argv": sys.argv[1:], "specs": [s.name for s in specs], "run": run}
    if old is not None and old["run"] != run:
        diff = next(k for k in sorted(set(old["run"]) | set(run)) if old["run"].get(k) != run.get(k))
        raise PipelineError(f"{args.out} holds a run with other settings ({diff}: {old['run'].get(diff)!r} there, "
                            f"{run.get(diff)!r} now); re-run with its settings or choose another --out", exit_code=1)
    atomic_write_json(cfg, identity)
    print(f"attribution searches in {ctx.precision} ({ctx.memory_format}), its distances and decisions in fp32; "
          "the attacks in fp32", flush=True)
    ts = synthesize_targets(ctx.generators, per_generator=args.targets_per_generator, seed=args.seed,
                            device=ctx.device)
    latents = tuple(seeded_latents([s], ctx.generator(g).latent_dim)[0] for s, g in zip(ts.seeds,
                                                                                          ts.true_generators))
    batch = AttackBatch(ts.images, ts.ids, ts.true_generators, latents)
    t0 = time.perf_counter()

    def progress(name: str, resumed: bool) -> None:
        print(f"[{time.perf_counter() - t0:7.1f} s] {name}{' (done before)' if resumed else ''}", flush=True)

    rows = run_sweep(ctx, batch, specs, args.out, seed=args.seed, on_spec=progress)
    text = summary_text(summarize(rows))
    atomic_write_text(args.out / "summary.txt", text + "\n")
    written = write_figures(args.out, rows, framing_budgets=args.framing_budgets)
    print(text)
    print(f"written to {args.out}: attacks.csv, summary.txt, {', '.join(p.name for p in written)}")
    return 0


def cmd_figures(args: argparse.Namespace) -> int:
    from reconstruction_pipeline.attacks.experiment import read_rows, summarize, summary_text
    from reconstruction_pipeline.attacks.figures import write_figures

    path = args.run / "attacks.csv"
    if not path.is_file():
        raise PipelineError(f"{path}: no such file (run `attack run --out {args.run}` first)", exit_code=2)
    rows = read_rows(path)
    written = write_figures(args.run, rows, framing_budgets=args.framing_budgets)
    print(summary_text(summarize(rows)))
    print(f"written: {', '.join(str(p) for p in written)}")
    return 0


def cmd_image(args: argparse.Namespace) -> int:
    from PIL import Image

    from reconstruction_pipeline.attacks import AttackBatch, apply_attack
    from reconstruction_pipeline.attacks.budget import l2, linf, ssim
    from reconstruction_pipeline.attacks.context import attribution_of
    from reconstruction_pipeline.bundle_builder import to_uint8
    from reconstruction_pipeline.targets import load_user_image

    ctx, ids = _context(args)
    spec = _specs([args.attack], ids)[0]
    images = torch.cat([load_user_image(p, resolution=ctx.generators[0].resolution) for p in args.images])
    batch = AttackBatch.of_images(images, [str(p) for p in args.images])
    clf = _classifier(args, spec.attack.needs_classifier, ctx.device)
    if clf is not None:
        ctx = dataclasses.replace(ctx, classifier=clf)
    out = apply_attack(ctx, batch, spec, seed=args.seed)  # a seed attack is refused here, before any work
    named = attribution_of(ctx, out.images, batch.keys)
    d_inf, d_2, s = linf(images, out.images), l2(images, out.images), ssim(images, out.images)
    for j, p in enumerate(args.images):
        dest = args.out / f"{p.stem}.{spec.kind}.png"
        buf = io.BytesIO()
        Image.fromarray(to_uint8(out.images[j].numpy())).save(buf, format="PNG")
        atomic_write_bytes(dest, buf.getvalue())
        print(f"{dest}: attributed to {named[j]}  (linf {float(d_inf[j]):.4g}, l2 {float(d_2[j]):.4g}, "
              f"SSIM {float(s[j]):.4f}; PNG rounds to 8 bits)")
    return 0


def cmd_train(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from tqdm import tqdm

    from reconstruction_pipeline.attacks.classifier import save_classifier, train_classifier, weights_file

    device = _device(args.device)
    gens = GeneratorSource(args.zoo, ()).load(device=device)
    out = args.out or weights_file(args.zoo)
    command = "python -m reconstruction_pipeline attack " + " ".join(shlex.quote(a) for a in argv)
    bar = tqdm(total=args.steps, unit="step", mininterval=2.0)

    def on_step(step: int, loss: float) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}", refresh=False)

    model, card = train_classifier(gens, zoo=args.zoo, steps=args.steps, batch_per_generator=args.batch_per_generator,
                                   lr=args.lr, width=args.width, seed=args.seed, device=device, command=command,
                                   on_step=on_step)
    bar.close()
    atomic_write_bytes(out, save_classifier(model, card))
    atomic_write_json(out.with_suffix(".json"), dataclasses.asdict(card))
    print(f"{out}: clean accuracy {card.clean_accuracy:.2%} on {card.test_images} held-out images; "
          f"{card.cpu_seconds:.0f} s CPU, {card.wall_seconds:.0f} s wall")
    return 0
