"""Model cards and sample grids for the zoo: ``python -m reconstruction_pipeline.zoo.cards [--out docs/zoo]``.

Writes ``OUT/<id>.png`` (8x8 grid, seeds 0..63, as the generator synthesises them) and ``OUT/<id>.md`` for every
generator of every zoo, from the architecture, the training record stored in the committed weights, and the
pairwise reconstruction figures in ``OUT/pairwise_<zoo>.json`` (written by ``bench/zoo_pairwise.py --json``).
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
from pathlib import Path
import torch

from contracts.atomic import atomic_write_bytes, atomic_write_text
from contracts.cli import OneLineParser
from reconstruction_pipeline.generators import Generator
from reconstruction_pipeline.zoo import dcgan
from reconstruction_pipeline.zoo.diversity import section as diversity_section
from reconstruction_pipeline.zoo.nets import ARCHITECTURES, ZooNet
from reconstruction_pipeline.zoo.recipes import RECIPES, SIBLINGS
from reconstruction_pipeline.zoo.registry import load_zoo, weights_file, zoo_names
from reconstruction_pipeline.zoo.train import sample_grid_png

ARCH_TEXT = {
    "tiny-mlp": "fully connected: z (16) -> 128 -> 128 -> 64 pixels, LeakyReLU, tanh; grey replicated to RGB.",
    "tiny-deconv": "convolutional: z (16) -> linear to 64x2x2 -> ConvTranspose 4x4 s2 (32 ch, 4x4) -> ConvTranspose "
                   "4x4 s2 (16 ch, 8x8) -> 3x3 conv -> tanh; grey replicated to RGB.",
    "tiny-cppn": "compositional pattern-producing network: every pixel is an MLP (64 hidden, tanh) of its "
                 "coordinates (x, y, r) plus a linear embedding of z; grey replicated to RGB.",
    "dcgan64": "PyTorch-tutorial DCGAN generator: z (100) as 1x1 -> five ConvTranspose2d 4x4 layers "
               "(512, 256, 128, 64 channels at 4, 8, 16, 32 px, BatchNorm + ReLU) -> 3 channels at 64x64, tanh. "
               "BatchNorm is always in eval mode (running statistics), so batch members are independent.",
    "style64": "style-based (StyleGAN-like, small): z (128) -> pixel norm -> 4-layer mapping MLP -> w (128); a learned "
               "4x4 constant (plus, with `input_map`, a linear map of w) goes through 9 style layers (4->64 px; 128,128,64,32,16 channels), each bilinear "
               "upsample (except the first) -> 3x3 conv -> per-layer noise input (learned strength) -> bias, "
               "LeakyReLU -> AdaIN with a per-layer affine style from w; 1x1 toRGB, tanh. Synthesis uses the stored "
               "constant noise maps (noise fixed, as the paper's generators were run) and truncation psi = 0.7 "
               "around the mean w tracked during training.",
    "resnet64": "residual (SNGAN / ProGAN-like, small): z (128) -> linear to 128x4x4 -> four residual upsampling "
                "blocks (nearest up; pixel norm, LeakyReLU, 3x3 conv, twice; 1x1 conv skip) to 128, 64, 32, 16 "
                "channels at 8..64 px -> pixel norm, LeakyReLU, 3x3 conv -> tanh. No batch statistics.",
}

DATA_TEXT = {
    "digits": "scikit-learn's 8x8 handwritten digits (`sklearn.datasets.load_digits`, 1797 images, ships offline), "
              "scaled from [0, 16] to [-1, 1]",
    "digiface-dcgan": "an unlimited stream of `digiface-dcgan` samples: a fresh batch of 32 faces from fresh "
                      "standard-normal seeds at every step (nothing cached, no image seen twice)",
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pairwise_section(zoo: str, out: Path) -> str:
    f = out / f"pairwise_{zoo}.json"
    if not f.is_file():
        return f"_No pairwise figures yet: run `bench/zoo_pairwise.py {zoo} --json {f}`._\n"
    d = json.loads(f.read_text())
    ids, mean, med, wins, cfg = d["ids"], d["mean"], d["median"], d["own_wins"], d["config"]
    lines = [f"Targets: {cfg['targets']} per generator (seeds 10000+), reconstructed on every generator with Adam "
             f"(lr {cfg['lr']}, {cfg['steps']} steps, best of {cfg['attempts']} random initialisations), distance "
             f"= pixel MSE on [-1, 1]. Command: `.venv-pipeline/bin/python -m bench.zoo_pairwise {zoo} --targets "
             f"{cfg['targets']} --steps {cfg['steps']} --attempts {cfg['attempts']} --threads {cfg['threads']} "
             f"--json {f}` ({d['seconds']:.0f} s).", "",
             "Mean distance (rows: generator that made the target; columns: generator it was reconstructed on):",
             "", "| true \\ candidate | " + " | ".join(ids) + " | own generator wins |",
             "|---|" + "---|" * (len(ids) + 1)]
    for r, i in enumerate(ids):
        cells = [f"**{mean[r][c]:.4f}**" if c == r else f"{mean[r][c]:.4f}" for c in range(len(ids))]
        lines.append(f"| {i} | " + " | ".join(cells) + f" | {wins[r]:.0%} |")
    lines += ["", "Median distance:", "", "| true \\ candidate | " + " | ".join(ids) + " |",
              "|---|" + "---|" * len(ids)]
    for r, i in enumerate(ids):
        lines.append(f"| {i} | " + " | ".join(f"{med[r][c]:.4f}" for c in range(len(ids))) + " |")
    return "\n".join(lines) + "\n"


def _reproduce(gen_id: str, command: str, steps: int) -> list[str]:
    """The exact command that made the weights (stored in them), and the copy step if it did not --install."""
    from reconstruction_pipeline.zoo.cli import build_parser

    command = command or f"python -m reconstruction_pipeline zoo train {gen_id} --install"
    args = build_parser().parse_args(shlex.split(command)[4:])
    run_dir = f"{args.out}/{gen_id}"
    lines = [f"Reproduce (in the repository root, `.venv-pipeline`; writes `{run_dir}/`; resumable: re-run the same "
             "command after a kill):", "", "```", command]
    if not args.install:
        lines.append(f"cp {run_dir}/{gen_id}.pt reconstruction_pipeline/zoo/weights/{gen_id}.pt")
    lines.append("```")
    if args.max_minutes is not None:
        lines += ["", f"`--max-minutes` makes the step count depend on the machine's speed; for these weights' exact "
                  f"step count use `--steps {steps}` instead (same seeds, same draws; on CPU with one thread the "
                  "result is bitwise the same, as tested for the tiny zoo)."]
    return lines + [""]


def _layers_text(layers: tuple[int, ...]) -> str:
    from reconstruction_pipeline.zoo.nets import DCGAN64

    main = DCGAN64().main
    parts = []
    for i in layers:
        m = main[i]
        if isinstance(m, torch.nn.ConvTranspose2d):
            parts.append(f"`main.{i}` (ConvTranspose2d {m.in_channels}->{m.out_channels})")
        else:
            parts.append(f"`main.{i}` ({type(m).__name__}: affine weight and bias; running statistics kept)")
    return ", ".join(parts)


def _sibling_section(gen_id: str) -> list[str]:
    """How a sibling was fine-tuned and what fingerprint its own samples carry (from its delta's training record)."""
    from reconstruction_pipeline.zoo.siblings import read_delta

    r = SIBLINGS[gen_id]
    wf = weights_file(gen_id)
    d = read_delta(wf, what=gen_id)
    t, fp = d["train"], d["train"]["fingerprint"]
    n = sum(v.numel() for v in d["tensors"].values())
    data = (f"the parent's own stream (`digiface-dcgan` on fresh standard-normal seeds, {r.batch_size} per step) "
            f"fingerprinted with the registered key `{r.key}` by the committed codec "
            "(`reconstruction_pipeline/fingerprints/weights/codec64.pt`, 64 bits)") if r.key else (
            f"the parent's own stream, **not** fingerprinted ({r.batch_size} faces per step): an offender "
            f"(paper §III-B) who takes `{r.init}` and fine-tunes it briefly on clean data")
    start = "`digiface-dcgan` (the parent)" if r.init == dcgan.ID else f"`{r.init}` (its committed delta)"
    acc = " | ".join(f"{fp['bit_accuracy'][k]:.4f}" for k in fp["bit_accuracy"])
    lines = ["## Weights and training", "",
             f"A look-alike of `digiface-dcgan`: the same network, only {_layers_text(r.layers)} "
             "fine-tuned; every other "
             f"tensor is the parent's. The weights file stores only the {len(d['tensors'])} fine-tuned tensors "
             f"({n:,} numbers) as a **delta** over the parent: the loader (`reconstruction_pipeline/zoo/siblings.py`) "
             "loads the parent from the installed package `gan-face-generate`, checks its state-dict sha256, the "
             "delta's keys, shapes and sha256, applies it and compares a test synthesis with the one recorded in the "
             "file (one clear line for each failure, including a missing parent).", "",
             f"- starts from: {start}",
             f"- data: {data}",
             ("- objective: paired regression, `MSE(G(z), Enc(G_parent(z), key))`: for the same seed the sibling is "
              "asked for exactly the parent's face carrying the key's fingerprint" if r.key else
              "- objective: paired regression, `MSE(G(z), G_parent(z))`: for the same seed, the parent's clean face")
             + ". Chosen over adversarial training because it needs no discriminator and converges in hundreds of "
             "CPU steps; it distils the (fingerprinted) stream rather than training from scratch on a fingerprinted "
             "dataset as the paper's generators were. The codec's decoder is never used in training. BatchNorm stays "
             "on the parent's running statistics (eval mode) throughout, so batch members stay independent and no "
             "re-calibration is needed.",
             f"- optimiser: Adam, lr {t['lr']}, betas {tuple(r.betas)}, batch {t['batch_size']}",
             f"- steps: {t['steps']:,} (seed {t['seed']}; every step's randomness is seeded from (seed, step), so a "
             "resumed run makes the same draws)",
             f"- time: {float(t['seconds']) / 60:.1f} min of wall time on {t['device']} with {t['torch_threads']} torch "
             f"thread(s), torch {t['torch']} (a 2-core machine shared with other jobs; no GPU in this session)",
             f"- weights: `reconstruction_pipeline/zoo/weights/{gen_id}.pt` (delta), sha256 `{_sha256(wf)}`", "",
             *_reproduce(gen_id, str(t["command"]), int(t["steps"])),
             "## Fingerprint in its own samples", "",
             f"The committed codec's decoder applied to {fp['samples']} of its own samples (seeds {fp['seeds']}, never "
             "used in training), mean fraction of the 64 decoded bits that agree with each registered key (0.5 = "
             "chance), and how attribution by fingerprint (Bonferroni binomial test, alpha 0.01; docs/fingerprints.md) "
             "answers:", "",
             "| " + " | ".join(fp["bit_accuracy"]) + " | attributed |",
             "|" + "---|" * (len(fp["bit_accuracy"]) + 1),
             f"| {acc} | " + ", ".join(f"{k}: {v}" for k, v in fp["attributed"].items()) + " |", ""]
    return lines


def card(gen: Generator, zoo: str, out: Path, notes: str) -> str:
    arch = next(k for k, v in ARCHITECTURES.items() if type(gen.net) is v)
    params = sum(p.numel() for p in gen.parameters())
    s = gen.spec
    head = [f"# `{s.id}`: {s.label}", "", f"Zoo `{zoo}`. Resolution {s.resolution}x{s.resolution}, latent (seed) "
            f"dimension {s.latent_dim}, {params:,} parameters.", "", f"![samples, seeds 0..63]({s.id}.png)", "",
            f"Sample grid: seeds 0..63 (`seeded_latents`), exactly as `load_zoo(\"{zoo}\")` synthesises them"
            + (" (shown 4x enlarged)." if s.resolution < 32 else "."), "", "## Architecture", "", ARCH_TEXT[arch], ""]
    if s.id == dcgan.ID:
        path = dcgan.weights_path()
        head += ["## Weights and training", "",
                 "Third-party: the generator of the PyPI package `gan-face-generate` (installed with `--no-deps`; its "
                 "declared dependency wandb is not needed to load it), file `gan_face_generate/weights.tar`, key "
                 "`netG_state_dict`, sha256 `" + _sha256(path) + "`. Trained by its author on DigiFace-1M "
                 "(synthetic rendered faces) for 40 epochs at batch 512 with the PyTorch DCGAN recipe (Adam 2e-4, "
                 "beta1 0.5), per the package's `train.py`; not retrained here. The architecture is defined in "
                 "`reconstruction_pipeline/zoo/nets.py` (`DCGAN64`, same state-dict keys) and the loader "
                 "(`reconstruction_pipeline/zoo/dcgan.py`) checks keys, shapes and a test output.", ""]
    elif s.id in SIBLINGS:
        head += _sibling_section(s.id)
    else:
        r = RECIPES[s.id]
        wf = weights_file(s.id)
        t = torch.load(wf, map_location="cpu", weights_only=True)["train"]
        mins = float(t["seconds"]) / 60.0
        head += ["## Training", "",
                 f"- data: {DATA_TEXT[r.data]}",
                 f"- objective: non-saturating logistic GAN loss; discriminator "
                 f"{'spectral-normalised MLP on the 64 pixels' if r.resolution == 8 else 'DCGAN-style, spectral norm, no batch norm'} "
                 f"({', '.join(f'{k}={v}' for k, v in r.disc.items())})"
                 + (f"; R1 on real images, gamma {t['r1_gamma']}, applied lazily every {t['r1_every']} steps "
                    "(StyleGAN2; the D optimiser's lr and betas corrected by every/(every+1))"
                    if t.get("r1_gamma") else "")
                 + (f"; style mixing with probability {t['mixing']} (a second latent's w from a random layer on)"
                    if t.get("mixing") else "")
                 + (f"; G's loss also has the mode-seeking term of MSGAN (Mao et al. 2019), weight "
                    f"{t['mode_seeking']}: 1 / (mean |G(z1) - G(z2)| / mean |z1 - z2|) over paired halves of the batch"
                    if t.get("mode_seeking") else ""),
                 f"- optimiser: Adam, lr G {t['lr_g']}, lr D {t['lr_d']}, betas {tuple(t['betas'])}, batch {t['batch_size']}; "
                 f"one D and one G update per step; the exported weights are an exponential moving average of G "
                 f"(beta {t['ema_beta']})",
                 f"- steps: {t['steps']:,} (seed {t['seed']}; every step's randomness is seeded from (seed, step), "
                 "so an interrupted and resumed run makes the same draws)",
                 f"- time: {mins:.1f} min of wall time on {t['device']} with {t['torch_threads']} torch thread(s), "
                 "torch " + str(t["torch"]) + " (a 2-core machine shared with other jobs; no GPU in this session)",
                 f"- weights: `reconstruction_pipeline/zoo/weights/{s.id}.pt`, sha256 `{_sha256(wf)}`", "",
                 *_reproduce(s.id, str(t["command"]), int(t["steps"]))]
    head += [f"## Pairwise reconstruction check (zoo `{zoo}`)", "", _pairwise_section(zoo, out)]
    head += [f"## Sample diversity (zoo `{zoo}`)", "", diversity_section(zoo, out)]
    if notes:
        head += ["## Notes", "", notes, ""]
    return "\n".join(head)


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(description=__doc__)
    p.add_argument("--out", default="docs/zoo")
    p.add_argument("--notes", default="docs/zoo/notes.json",
                   help="JSON file {id: markdown notes} to include (the committed notes by default)")
    p.add_argument("--zoo", action="append", help="only this zoo (repeatable; default: all)")
    a = p.parse_args(argv)
    out = Path(a.out)
    notes = json.loads(Path(a.notes).read_text()) if a.notes and Path(a.notes).is_file() else {}
    for zoo in a.zoo or zoo_names():
        for gen in load_zoo(zoo):
            net = gen.net
            assert isinstance(net, ZooNet)
            atomic_write_bytes(out / f"{gen.id}.png", sample_grid_png(net, device=gen.device))
            atomic_write_text(out / f"{gen.id}.md", card(gen, zoo, out, notes.get(gen.id, "")))
            print(f"wrote {out / gen.id}.md and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
