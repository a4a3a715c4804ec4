"""``python -m reconstruction_pipeline zoo list|train ...``"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import torch

from contracts.atomic import atomic_write_bytes
from contracts.cli import DEFAULTS_HELP, add_commands, int_range, make_parser, positive_float
from reconstruction_pipeline.errors import run_command
from reconstruction_pipeline.generators import resolve_device
from reconstruction_pipeline.zoo.errors import ZooError
from reconstruction_pipeline.zoo.nets import DCGAN64, build_net, count_parameters
from reconstruction_pipeline.zoo.recipes import RECIPES, SIBLINGS
from reconstruction_pipeline.zoo.registry import ZOO_DESCRIPTIONS, weights_file, zoo_names, zoo_specs


def _params(gen_id: str) -> int:
    if gen_id in RECIPES:
        r = RECIPES[gen_id]
        return count_parameters(build_net(r.arch, dict(r.config)))
    return count_parameters(DCGAN64())


def list_text() -> str:
    lines = []
    for name in zoo_names():
        lines.append(f"zoo {name}: {ZOO_DESCRIPTIONS.get(name, '')}")
        lines.append(f"  {'id':<16} {'label':<46} {'res':>4} {'latent':>6} {'params':>10}  source")
        for s in zoo_specs(name):
            lines.append(f"  {s.id:<16} {s.label:<46} {s.resolution:>4} {s.latent_dim:>6} {_params(s.id):>10,}  "
                         f"{s.source}")
        lines.append("")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = make_parser("python -m reconstruction_pipeline zoo",
                    "List the generator zoos or train the generators trained here.")
    sub = add_commands(p)
    sub.add_parser("list", help="print each zoo and its generators")
    t = sub.add_parser("train", help="train a generator (or every trainable generator of a zoo)",
                       formatter_class=DEFAULTS_HELP)
    t.add_argument("name", help=f"generator id ({', '.join([*RECIPES, *SIBLINGS])}) or zoo name")
    t.add_argument("--steps", type=int_range(0), default=None, help="total steps (default: the recipe's)")
    t.add_argument("--max-minutes", type=positive_float, default=None,
                   help="stop (checkpointed, exported) after this many minutes of this run")
    t.add_argument("--out", default="runs/zoo", help="runs go to OUT/ID/ (checkpoint, samples, exported ID.pt)")
    t.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    t.add_argument("--threads", type=int_range(0), default=0, help="torch CPU threads (0: torch's default)")
    t.add_argument("--install", action="store_true",
                   help="copy the exported weights to reconstruction_pipeline/zoo/weights/ID.pt when done")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _train(args: argparse.Namespace, argv: list[str]) -> int:
    from reconstruction_pipeline.zoo.train import train

    if args.name in RECIPES or args.name in SIBLINGS:
        ids = [args.name]
    elif args.name in zoo_names():
        ids = [s.id for s in zoo_specs(args.name) if s.id in RECIPES or s.id in SIBLINGS]
    else:
        raise ZooError(f"cannot train {args.name!r}; trainable generators: {', '.join([*RECIPES, *SIBLINGS])}; "
                       f"zoos: {', '.join(zoo_names())}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    command = "python -m reconstruction_pipeline zoo " + " ".join(shlex.quote(a) for a in argv)
    for gen_id in ids:
        if gen_id in SIBLINGS:
            _train_sibling(gen_id, args, device, command)
            continue
        res = train(RECIPES[gen_id], out_dir=Path(args.out) / gen_id, steps=args.steps,
                    max_minutes=args.max_minutes, device=device, progress=not args.no_progress, command=command)
        print(f"{res.id}: {res.step} steps, {res.seconds / 60:.1f} min in total, stopped on {res.stopped}; "
              f"weights {res.weights}")
        if args.install:
            atomic_write_bytes(weights_file(gen_id), res.weights.read_bytes())
            print(f"{res.id}: installed as {weights_file(gen_id)}")
    return 0


def _train_sibling(gen_id: str, args: argparse.Namespace, device: torch.device, command: str) -> None:
    """Fine-tune a sibling; one that starts from another sibling takes that sibling's delta from the same --out
    when it was trained there, else the committed one."""
    from reconstruction_pipeline.zoo.siblings import train_sibling

    recipe = SIBLINGS[gen_id]
    init = Path(args.out) / recipe.init / f"{recipe.init}.pt"
    res = train_sibling(recipe, out_dir=Path(args.out) / gen_id, steps=args.steps, max_minutes=args.max_minutes,
                        device=device, progress=not args.no_progress,
                        init_path=init if recipe.init in SIBLINGS and init.is_file() else None, command=command)
    acc = ", ".join(f"{k} {v:.4f}" for k, v in res.fingerprint["bit_accuracy"].items())
    print(f"{res.id}: {res.step} steps, {res.seconds / 60:.1f} min in total, stopped on {res.stopped}; "
          f"weights {res.weights}; bit accuracy of its own samples against {acc}; "
          f"attributed {res.fingerprint['attributed']}")
    if args.install:
        atomic_write_bytes(weights_file(gen_id), res.weights.read_bytes())
        print(f"{res.id}: installed as {weights_file(gen_id)}")


def main(argv: list[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(words)

    def dispatch() -> int:
        if args.command == "list":
            print(list_text())
            return 0
        return _train(args, words)

    return run_command(dispatch, [((ZooError, ValueError), 2, "")],
                       interrupted="interrupted; re-run the same command to continue from the last checkpoint")
