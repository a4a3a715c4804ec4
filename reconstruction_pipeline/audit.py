"""Audit — the deny flow (paper §VII, Fig. 12): does a suspect image come from a model developer's logged
generations?

1. the export is verified (root recomputed, checkpoint signature, optionally against the key obtained elsewhere);
2. every reveal is checked against its entry's seed commitment, and every revealed entry is regenerated from its
   seed (batched, on the device) and its pixel hash confirmed, with the weights' SHA-256 checked against ``model``;
3. the suspect's pixel hash is looked up in the log (with a verified inclusion proof when found); its nearest
   regenerated image is reported with the pixel distance (MSE in [-1, 1], the pipeline's ``pixel`` distance); and,
   with a zoo, it is attributed by seed reconstruction.

What this can and cannot prove is in docs/provenance.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contracts.jsonl import JsonlError, read_jsonl
from provenance.entry import EntryError, Reveal, pixel_sha256
from provenance.note import b64
from provenance.verify import Verified, inclusion, verify_export
from reconstruction_pipeline.errors import PipelineError
from reconstruction_pipeline.generate import check_params, model_sha256, render
from reconstruction_pipeline.generators import Generator
from reconstruction_pipeline.targets import SEED_MAX


@dataclass(frozen=True)
class RevealRecord:
    line: int
    reveal: Reveal


def read_reveals(path: Path) -> list[RevealRecord]:
    """``reveals.jsonl`` -> records; one line names a malformed record."""
    try:
        return [RevealRecord(n, reveal) for n, reveal in read_jsonl(path, _reveal, (ValueError, KeyError, TypeError))]
    except JsonlError as e:
        raise PipelineError(f"--reveals {e}" if e.line is None
                            else f"--reveals {path} line {e.line}: malformed record ({e.cause})", exit_code=2) from None


def _reveal(rec: Any) -> Reveal:
    salt = bytes.fromhex(rec["salt"])
    reveal = rec["reveal"]
    if not isinstance(reveal, dict) or set(reveal) != {"generator", "seed", "params"}:
        raise ValueError("reveal must hold generator, seed and params")
    return Reveal(salt, reveal)


def match_reveals(v: Verified, records: Sequence[RevealRecord]) -> dict[int, Reveal]:
    """Entry index -> its reveal; every reveal must open a commitment in the log."""
    by_commitment: dict[str, list[int]] = {}
    for i, e in enumerate(v.entries):
        by_commitment.setdefault(e["seed_commitment"], []).append(i)
    out: dict[int, Reveal] = {}
    for rec in records:
        try:
            c = rec.reveal.commitment()
        except EntryError as e:
            raise PipelineError(f"reveals line {rec.line}: {e}") from None
        if c not in by_commitment:
            raise PipelineError(f"reveals line {rec.line}: its salt and reveal open no seed commitment in the log "
                                "(altered reveal, or a reveal of another log)")
        for i in by_commitment[c]:
            if v.entries[i]["generator"] != rec.reveal.reveal["generator"]:
                raise PipelineError(f"reveals line {rec.line}: reveals generator {rec.reveal.reveal['generator']!r} "
                                    f"but entry {i} logs {v.entries[i]['generator']!r}")
            out[i] = rec.reveal
    return out


def regenerate(v: Verified, reveals: dict[int, Reveal], generators: dict[str, Generator], *, device: torch.device,
               batch_size: int) -> tuple[dict[int, np.ndarray], list[str]]:
    """Regenerate every revealed entry; returns pixels by entry index and one line per entry that does not match."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in reveals.items():
        try:
            check_params(r.reveal["params"])
        except ValueError as err:
            raise PipelineError(f"entry {i}: {err}") from None
        groups.setdefault((r.reveal["generator"], json.dumps(r.reveal["params"], sort_keys=True)), []).append(i)
    pixels: dict[int, np.ndarray] = {}
    problems: list[str] = []
    for (gid, params_json), idx in sorted(groups.items()):
        g = generators.get(gid)
        if g is None:
            raise PipelineError(f"entry {idx[0]}: generator {gid!r} is not available here; give it with "
                                f"--generator {gid}=pkg.mod:factory[:ckpt]", exit_code=2)
        fp = model_sha256(g)
        seeds = []
        for i in idx:
            s = reveals[i].reveal["seed"]
            if not isinstance(s, int) or isinstance(s, bool) or not 0 <= s <= SEED_MAX:
                raise PipelineError(f"entry {i}: only integer seeds in 0..2^63-1 can be regenerated here")
            seeds.append(s)
        px = render(g, seeds, json.loads(params_json), device=device, batch_size=batch_size)
        for i, p in zip(idx, px):
            e = v.entries[i]
            if e["model"] != fp:
                problems.append(f"entry {i}: the weights of {gid} here (sha256 {fp[:16]}...) are not the logged "
                                f"model {e['model'][:16]}...")
            elif pixel_sha256(p.tobytes()) != e["image_sha256"] or [p.shape[0], p.shape[1]] != e["size"]:
                problems.append(f"entry {i}: regenerating seed {reveals[i].reveal['seed']} on {gid} does not give the "
                                f"logged pixels (made on {reveals[i].reveal['params'].get('device', '?')}, "
                                f"regenerated on {device.type})")
            else:
                pixels[i] = p
    return pixels, problems


def load_suspect(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise PipelineError(f"--suspect {path}: no such image file", exit_code=2) from None
    except (UnidentifiedImageError, OSError) as e:
        raise PipelineError(f"--suspect {path}: unreadable image ({type(e).__name__})", exit_code=2) from None


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """[N, H, W, 3] uint8 -> [N, 3, H, W] float32 in [-1, 1]."""
    return torch.from_numpy(pixels.astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2).contiguous()


def nearest(suspect: np.ndarray, pixels: dict[int, np.ndarray], *, device: torch.device,
            batch_size: int = 256) -> tuple[int, float] | None:
    """The regenerated image nearest the suspect (same size only) by the pipeline's ``pixel`` distance."""
    from reconstruction_pipeline.distances import build_distance

    same = [i for i, p in pixels.items() if p.shape == suspect.shape]
    if not same:
        return None
    dist = build_distance("pixel", device=device)
    target = to_tensor(suspect[None]).to(device)
    best: tuple[int, float] | None = None
    with torch.no_grad():
        for k in range(0, len(same), batch_size):
            idx = same[k:k + batch_size]
            imgs = to_tensor(np.stack([pixels[i] for i in idx])).to(device)
            d = dist(imgs, dist.prepare(target.expand(len(idx), -1, -1, -1)))
            j = int(torch.argmin(d))
            if best is None or float(d[j]) < best[1]:
                best = (idx[j], float(d[j]))
    return best


def audit(v: Verified, reveals: dict[int, Reveal], generators: dict[str, Generator], suspect: np.ndarray, *,
          device: torch.device, batch_size: int = 64) -> dict[str, Any]:
    """The audit's JSON report (without attribution) and its verdict line."""
    cp = v.checkpoint.checkpoint
    n = cp.size
    pixels, problems = regenerate(v, reveals, generators, device=device, batch_size=batch_size)
    digest = pixel_sha256(suspect.tobytes())
    found = [i for i, e in enumerate(v.entries) if e["image_sha256"] == digest]
    near = nearest(suspect, pixels, device=device)
    report: dict[str, Any] = {
        "log": {"origin": cp.origin, "size": n, "root": b64(cp.root), "signed_by": v.verifier.vkey(),
                "key_from_export": v.vkey_from_export},
        "reveals": {"revealed": len(reveals), "unrevealed": n - len(reveals), "reproduced": len(pixels),
                    "problems": problems},
        "suspect": {"image_sha256": digest, "size": [int(suspect.shape[0]), int(suspect.shape[1])]},
        "found": [{"index": i, "entry": v.entries[i], "inclusion_proof": inclusion(v, i)} for i in found],
        "nearest": None if near is None else {"index": near[0], "generator": v.entries[near[0]]["generator"],
                                              "distance": near[1], "metric": "pixel MSE in [-1, 1]"},
        # what the nearest distance covers: only revealed entries that regenerated to their logged pixels
        "coverage": {"logged": n, "revealed_and_reproduced": len(pixels), "complete": len(pixels) == n},
    }
    if problems:
        report["verdict"] = (f"LOG NOT REPRODUCED: {len(problems)} of {len(reveals)} revealed entries do not "
                             f"regenerate to their logged pixels ({problems[0]})")
    elif found:
        e = v.entries[found[0]]
        report["verdict"] = (f"GENERATED: the suspect is logged generation #{found[0]} of {n} ({e['generator']}, "
                             f"{e['time']}); inclusion proof verified against the signed checkpoint of size {n}")
    else:
        near_text = ("no logged generation of its size" if near is None else
                     f"nearest #{near[0]} ({v.entries[near[0]]['generator']}) at pixel MSE {near[1]:.6g}")
        partial = "" if len(pixels) == n else f" ({len(pixels)} of {n} revealed and reproduced)"
        report["verdict"] = f"NOT GENERATED by any of the {n} logged generations{partial}; {near_text}"
    return report


def add_attribution(report: dict[str, Any], zoo: str, attributed: str, distances: dict[str, float]) -> None:
    """The report's ``attribution``; its key ``best_distance`` holds, per generator, the smallest *final* distance over
    the attempts (:attr:`~reconstruction_pipeline.attribution.ImageAttribution.distances`, what eq. 5 compares), not
    a reconstruction's best-over-steps ``best_distance``; the key stays as report readers know it."""
    report["attribution"] = {"zoo": zoo, "attributed": attributed, "best_distance": distances}
    if not report["reveals"]["problems"]:
        report["verdict"] += f"; attribution: {attributed} (zoo {zoo})"


def load_log(log_dir: Path, vkey: Path | None) -> Verified:
    return verify_export(log_dir, vkey=vkey)
