"""Generation with provenance (paper §VII): images from seeds, and for each one a log entry whose salted seed
commitment lets an audit regenerate it later.

How a seed becomes pixels is recorded in the reveal's ``params`` and is the only rule :func:`render` follows:

- ``{"dtype": "float64", "latents": "seeded_latents", "device": ...}`` (``generate``): the generator evaluated in float64, in
  batches of any size on any device, then ``round((x + 1) * 127.5)``. float64 makes the uint8 pixels independent of
  batch size and device (float32 batched matrix products differ in the last bits, which flips a few roundings);
- ``{"dtype": "float32", "batch": 1, "latents": "seeded_latents", "device": ...}`` (``build --ledger``): the bundle's targets as
  :func:`~reconstruction_pipeline.targets.synthesize_targets` makes them, one at a time in float32.

Seeds: image ``i`` of ``generate --seed S`` has the integer seed ``derive_seed(S, "generate", generator, i)``.
The salt (32 random bytes from ``os.urandom``) and the reveal stay in ``reveals.jsonl`` (mode 0600) until an audit.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contracts.atomic import atomic_write_bytes
from provenance.entry import Reveal, make_reveal, pixel_sha256, utc_now, validate_entry
from reconstruction_pipeline.generators import Generator, seeded_latents, weights_sha256
from reconstruction_pipeline.targets import derive_seed



def params_generate(device: torch.device) -> dict[str, Any]:
    return {"dtype": "float64", "latents": "seeded_latents", "device": device.type}


def params_target(device: torch.device) -> dict[str, Any]:
    return {"batch": 1, "dtype": "float32", "latents": "seeded_latents", "device": device.type}


REVEALS_FILE = "reveals.jsonl"


def generation_seed(seed: int, generator_id: str, index: int) -> int:
    return derive_seed(seed, "generate", generator_id, index)


def to_pixels(images: torch.Tensor) -> np.ndarray:
    """[N, 3, H, W] in [-1, 1] (any float dtype) -> [N, H, W, 3] uint8, rounding to nearest."""
    x = torch.round((images.detach().to("cpu", torch.float64).clamp(-1, 1) + 1.0) * 127.5)
    return x.to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def _batches(seeds: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(seeds), size):
        yield seeds[i:i + size]


def check_params(params: Any) -> dict[str, Any]:
    """The params of a reveal, if :func:`render` knows them; raises ValueError naming what it does not know."""
    if not isinstance(params, dict) or params.get("latents") != "seeded_latents":
        raise ValueError(f"unknown generation params {json.dumps(params, sort_keys=True)[:200]}")
    if params.get("dtype") == "float64" or (params.get("dtype") == "float32" and params.get("batch") == 1):
        return params
    raise ValueError(f"unknown generation params {json.dumps(params, sort_keys=True)[:200]}")


def render(generator: Generator, seeds: Sequence[int], params: dict[str, Any], *, device: torch.device,
           batch_size: int = 64) -> np.ndarray:
    """Seeds -> [N, H, W, 3] uint8 pixels, exactly as ``params`` says (see the module docstring); ``params["device"]``
    only records where the images were first made."""
    check_params(params)
    empty = np.zeros((0, generator.resolution, generator.resolution, 3), np.uint8)
    if params["dtype"] == "float64":
        g64 = copy.deepcopy(generator).to(device=device, dtype=torch.float64)
        out = []
        with torch.no_grad():
            for chunk in _batches(seeds, batch_size):
                out.append(to_pixels(g64.synthesize(seeded_latents(chunk, g64.latent_dim, device=device,
                                                                    dtype=torch.float64))))
        return np.concatenate(out) if out else empty
    g = generator.to(device)
    with torch.no_grad():  # one at a time, float32: as synthesize_targets makes a bundle's targets
        rows = [to_pixels(g.synthesize(seeded_latents([s], g.latent_dim, device=device)).float().clamp(-1, 1))
                for s in seeds]
    return np.concatenate(rows) if rows else empty


@dataclass(frozen=True)
class Logged:
    """One generation's public entry and private reveal."""

    entry: dict[str, Any]
    reveal: Reveal


def make_logged(generator_id: str, model_sha256: str, seeds: Sequence[int], pixels: np.ndarray,
                params: dict[str, Any], *, salt: Callable[[int], bytes] = os.urandom,
                time: str | None = None) -> list[Logged]:
    """Entries (docs/provenance.md) and reveals for ``pixels`` [N, H, W, 3] uint8 made from ``seeds``."""
    when = time or utc_now()
    out = []
    for s, px in zip(seeds, pixels, strict=True):
        r = Reveal(salt(32), make_reveal(generator_id, int(s), params))
        out.append(Logged({"v": 1, "generator": generator_id, "model": model_sha256,
                           "seed_commitment": r.commitment(), "image_sha256": pixel_sha256(px.tobytes()),
                           "size": [int(px.shape[0]), int(px.shape[1])], "time": when}, r))
        validate_entry(out[-1].entry)  # a malformed entry stops the run before anything is written
    return out


def reveal_record(item: Logged, *, index: int | None, file: str | None) -> dict[str, Any]:
    return {"index": index, "seed_commitment": item.entry["seed_commitment"], "salt": item.reveal.salt.hex(),
            "reveal": item.reveal.reveal, "file": file}


def write_private(path: Path, text: str) -> None:
    """Atomic write of a secret file: mode 0600 from its creation on, fsync, rename."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=0o600)


def log_generations(ledger: Any, items: Sequence[Logged], reveals_path: Path,
                    files: Sequence[str | None]) -> list[int]:
    """Reveals first (so no logged entry ever lacks its reveal), then one durable batch in the log, then the reveals
    again with their log indices. ``ledger``: an open :class:`provenance.log.Log`."""
    existing = reveals_path.read_text(encoding="utf-8") if reveals_path.is_file() else ""
    pending = "".join(json.dumps(reveal_record(it, index=None, file=f)) + "\n" for it, f in zip(items, files))
    write_private(reveals_path, existing + pending)
    try:
        indices: list[int] = ledger.append([it.entry for it in items])
    except BaseException:
        if existing:
            write_private(reveals_path, existing)  # nothing was logged: drop the pending reveals
        else:
            reveals_path.unlink(missing_ok=True)
        raise
    done = "".join(json.dumps(reveal_record(it, index=i, file=f)) + "\n" for it, i, f in zip(items, indices, files))
    write_private(reveals_path, existing + done)
    return indices


def model_sha256(generator: Generator) -> str:
    return weights_sha256(generator)


def write_png(path: Path, pixels: np.ndarray) -> None:
    from PIL import Image

    from contracts.atomic import atomic_write_bytes
    from reconstruction_pipeline.bundle_builder import png_bytes

    atomic_write_bytes(path, png_bytes(Image.fromarray(pixels, mode="RGB")))


def ledger_targets(ledger: Any, generators: Sequence[Generator], targets: Any, work: Path,
                   device: torch.device) -> int:
    """``build --ledger``: log every target of a bundle (once: a resumed build finds ``work/reveals.jsonl`` and
    logs nothing again). ``targets``: the build's :class:`~reconstruction_pipeline.targets.TargetSet`."""
    reveals = work / REVEALS_FILE
    if reveals.is_file():
        return 0
    work.mkdir(parents=True, exist_ok=True)
    by_id = {g.id: g for g in generators}
    pixels = to_pixels(targets.images)
    items: list[Logged] = []
    files: list[str | None] = []
    for gid in by_id:
        rows = [i for i, t in enumerate(targets.true_generators) if t == gid]
        items += make_logged(gid, model_sha256(by_id[gid]), [targets.seeds[i] for i in rows], pixels[rows],
                             params_target(device))
        files += [f"target:{targets.ids[i]}" for i in rows]
    return len(log_generations(ledger, items, reveals, files))
