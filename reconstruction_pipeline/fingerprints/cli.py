"""``python -m reconstruction_pipeline fingerprints train|embed|decode ...``"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import torch

from contracts.cli import DEFAULTS_HELP, add_commands, int_range, make_parser, positive_float
from reconstruction_pipeline.errors import run_command
from reconstruction_pipeline.fingerprints.codec import CodecConfig
from reconstruction_pipeline.fingerprints.errors import FingerprintError
from reconstruction_pipeline.fingerprints.noise import parse_noises
from reconstruction_pipeline.generators import resolve_device
from reconstruction_pipeline.targets import ImageInputError


def build_parser() -> argparse.ArgumentParser:
    fmt = DEFAULTS_HELP
    p = make_parser("python -m reconstruction_pipeline fingerprints",
                    "Train and use the artificial-fingerprint encoder/decoder (Yu et al., ICCV 2021).")
    sub = add_commands(p)
    t = sub.add_parser("train", formatter_class=fmt, help="train the codec on the digiface-dcgan stream (resumable)")
    t.add_argument("--bits", type=int_range(1, 4096), default=64, help="fingerprint length")
    t.add_argument("--resolution", type=int_range(16, 1024), default=64, help="image side (power of two)")
    t.add_argument("--width", type=int_range(1, 512), default=16, help="encoder U-Net base channels")
    t.add_argument("--dec-width", type=int_range(1, 512), default=16, help="decoder base channels")
    t.add_argument("--steps", type=int_range(0), default=4000, help="total steps")
    t.add_argument("--batch-size", type=int_range(1), default=32)
    t.add_argument("--lr", type=positive_float, default=1e-3, help="Adam learning rate")
    t.add_argument("--threshold", type=positive_float, default=0.9,
                   help="running bit accuracy at which the fidelity term and the noise layers switch on")
    t.add_argument("--w-max", type=positive_float, default=10.0, help="final weight of the image MSE term")
    t.add_argument("--ramp", type=int_range(1), default=1000, help="steps of the linear ramp of the MSE weight")
    t.add_argument("--noises", default="identity,blur,noise,jpeg,crop",
                   help="kornia noise layers, one drawn per step once the fidelity term is on")
    t.add_argument("--pool", type=int_range(0), default=0,
                   help="0: fresh digiface-dcgan faces at every step; N: N faces drawn once and reused (cheaper)")
    t.add_argument("--seed", type=int_range(0, 2**31 - 1), default=0)
    t.add_argument("--ckpt-every", type=int_range(1), default=100)
    t.add_argument("--eval-images", type=int_range(1), default=256, help="held-out faces for the final evaluation")
    t.add_argument("--max-minutes", type=positive_float, default=None, help="stop (checkpointed) after this long")
    t.add_argument("--out", type=Path, default=Path("runs/fingerprints/codec64"))
    t.add_argument("--device", default="auto")
    t.add_argument("--threads", type=int_range(0), default=0, help="torch CPU threads (0: torch's default)")
    t.add_argument("--no-progress", action="store_true")
    c = "--codec"
    e = sub.add_parser("embed", formatter_class=fmt, help="fingerprint 64x64 image files with a registered key")
    e.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    e.add_argument("--key", required=True, help="a registered key name")
    e.add_argument("--out", required=True, type=Path, help="directory for the fingerprinted PNGs (same file names)")
    e.add_argument(c, type=Path, default=None, help="codec file (default: the committed one)")
    a = sub.add_parser("attribute", formatter_class=fmt,
                       help="decode image files' fingerprints and attribute them to a registered key or to none")
    a.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    a.add_argument("--key", action="append", default=None, help="candidate key (repeatable; default: all registered)")
    a.add_argument("--alpha", type=positive_float, default=0.01, help="significance level of the binomial test")
    a.add_argument(c, type=Path, default=None, help="codec file (default: the committed one)")
    return p


def _codec_path(arg: Path | None) -> Path:
    from reconstruction_pipeline.fingerprints.store import DEFAULT_CODEC

    return DEFAULT_CODEC if arg is None else arg


def _load_images(paths: list[Path], resolution: int) -> torch.Tensor:
    from reconstruction_pipeline.targets import load_user_image

    return torch.cat([load_user_image(p, resolution=resolution) for p in paths])


def _embed(args: argparse.Namespace) -> int:
    from contracts.atomic import atomic_write_bytes
    from reconstruction_pipeline.fingerprints.keys import key_tensor, registered_keys
    from reconstruction_pipeline.fingerprints.store import load_codec
    from reconstruction_pipeline.bundle_builder import display_image, png_bytes

    codec = load_codec(_codec_path(args.codec))
    bits = key_tensor(registered_keys(codec.cfg.bits, [args.key])[args.key])
    images = _load_images(args.images, codec.cfg.resolution)  # every input checked before anything is written
    marked = codec.embed(images, bits)
    for p, img in zip(args.images, marked):
        atomic_write_bytes(args.out / (p.stem + ".png"),
                           png_bytes(display_image(img.cpu().numpy(), size=None, resample="lanczos")))
    print(f"{len(args.images)} image(s) fingerprinted with key {args.key!r} in {args.out}")
    return 0


def _attribute(args: argparse.Namespace) -> int:
    from reconstruction_pipeline.fingerprints.attribution import attribute_bits
    from reconstruction_pipeline.fingerprints.keys import registered_keys
    from reconstruction_pipeline.fingerprints.store import load_codec

    codec = load_codec(_codec_path(args.codec))
    keys = registered_keys(codec.cfg.bits, args.key)
    if not args.alpha < 1:
        raise FingerprintError(f"--alpha must be in (0, 1), got {args.alpha}")
    images = _load_images(args.images, codec.cfg.resolution)
    for p, bits in zip(args.images, codec.decode(images)):
        r = attribute_bits(bits.int().tolist(), keys, alpha=args.alpha)
        print(f"{p}: {r.attributed or 'none of these'}   (best {r.best_key}: {r.matches}/{r.length} bits, "
              f"p={r.p_value:.3g})")
    return 0


def _train(args: argparse.Namespace, argv: list[str]) -> int:
    from reconstruction_pipeline.fingerprints.train import TrainOptions, train_codec

    cfg = CodecConfig(bits=args.bits, resolution=args.resolution, width=args.width, dec_width=args.dec_width)
    cfg.check()
    opts = TrainOptions(steps=args.steps, batch_size=args.batch_size, lr=args.lr, threshold=args.threshold,
                        w_max=args.w_max, ramp=args.ramp, noises=parse_noises(args.noises), seed=args.seed,
                        ckpt_every=args.ckpt_every, eval_images=args.eval_images, pool=args.pool)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    command = "python -m reconstruction_pipeline fingerprints " + " ".join(shlex.quote(a) for a in argv)
    res = train_codec(cfg, opts, out_dir=args.out, device=device, max_minutes=args.max_minutes,
                      progress=not args.no_progress, command=command)
    ev = res.evaluation
    print(f"{res.step} steps, {res.seconds / 60:.1f} min in total, stopped on {res.stopped}; codec {res.weights}")
    print(f"held-out ({ev['images']} faces): PSNR {ev['psnr_db']:.2f} dB, SSIM {ev['ssim']:.4f}, bit accuracy "
          + ", ".join(f"{k} {v:.4f}" for k, v in ev["bit_accuracy"].items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(words)

    def dispatch() -> int:
        if args.command == "train":
            return _train(args, words)
        if args.command == "embed":
            return _embed(args)
        if args.command == "attribute":
            return _attribute(args)
        raise FingerprintError(f"unknown command {args.command!r}")

    return run_command(dispatch, [((FingerprintError, ImageInputError, ValueError), 2, "")],
                       interrupted="interrupted; re-run the same command to continue from the last checkpoint")
