"""Sample diversity of a zoo's generators: ``python -m reconstruction_pipeline.zoo.diversity faces [--json F]``.

For each generator, 256 samples from seeds 0..255 (``seeded_latents``, as the generator synthesises them) and two
mean pairwise distances over all 32,640 pairs:

- ``pixel``: root-mean-square difference of the RGB images on [-1, 1];
- ``shape``: the same on each image's greyscale, standardised to mean 0 and standard deviation 1 per image, so that
  samples differing only in colour, brightness or contrast count as near-identical (what a mode-collapsed generator
  that "varies only in colour" shows).

A collapsed generator scores near 0; the third-party ``digiface-dcgan`` is the reference.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from contracts.atomic import atomic_write_text
from contracts.cli import OneLineParser
from reconstruction_pipeline.generators import Generator, seeded_latents

N_SAMPLES = 256


def mean_pairwise_rms(x: torch.Tensor) -> float:
    """Mean over all pairs i < j of sqrt(mean((x_i - x_j)^2)); x is [N, ...]."""
    f = x.flatten(1).double()
    d = torch.cdist(f, f) / f.shape[1] ** 0.5
    n = f.shape[0]
    return float(d.triu(1).sum() / (n * (n - 1) / 2))


def standardised_grey(x: torch.Tensor) -> torch.Tensor:
    g = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).flatten(1)
    return (g - g.mean(1, keepdim=True)) / g.std(1, keepdim=True).clamp_min(1e-6)


@torch.no_grad()
def diversity(gen: Generator, n: int = N_SAMPLES) -> dict[str, float]:
    z = seeded_latents(range(n), gen.latent_dim, device=gen.device)
    x = torch.cat([gen.synthesize(z[i:i + 64]) for i in range(0, n, 64)]).cpu()
    return {"pixel": mean_pairwise_rms(x), "shape": mean_pairwise_rms(standardised_grey(x)), "samples": n}


def section(zoo: str, out: Path) -> str:
    """Markdown for a model card from ``OUT/diversity_<zoo>.json`` (empty note when absent)."""
    f = out / f"diversity_{zoo}.json"
    if not f.is_file():
        return f"_No diversity figures yet: run `python -m reconstruction_pipeline.zoo.diversity {zoo} --json {f}`._\n"
    d = json.loads(f.read_text())
    lines = [f"Mean pairwise distance of {N_SAMPLES} samples (seeds 0..{N_SAMPLES - 1}) per generator of zoo `{zoo}`: "
             "`pixel` = RMS difference on [-1, 1]; `shape` = the same on per-image standardised greyscale (blind to "
             "colour, brightness and contrast). Near 0 = mode collapse; `digiface-dcgan` (third-party) is the "
             f"reference. Command: `python -m reconstruction_pipeline.zoo.diversity {zoo} --json {f}` "
             f"({d['seconds']:.0f} s).", "", "| generator | pixel | shape |", "|---|---|---|"]
    for gid, v in d["generators"].items():
        lines.append(f"| {gid} | {v['pixel']:.3f} | {v['shape']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from reconstruction_pipeline.zoo.errors import ZooError
    from reconstruction_pipeline.zoo.registry import load_zoo

    p = OneLineParser(prog="python -m reconstruction_pipeline.zoo.diversity")
    p.add_argument("zoo")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    t0 = time.monotonic()
    try:
        gens = load_zoo(a.zoo)
    except ZooError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    res = {g.id: diversity(g) for g in gens}
    doc = {"zoo": a.zoo, "generators": res, "seconds": round(time.monotonic() - t0, 1)}
    if a.json:
        atomic_write_text(a.json, json.dumps(doc, indent=1) + "\n")
    for gid, v in res.items():
        print(f"{gid:<16} pixel {v['pixel']:.4f}  shape {v['shape']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
