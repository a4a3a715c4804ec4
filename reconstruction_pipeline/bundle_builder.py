"""Build a stimulus bundle: targets, every reconstruction attempt, display images, review grids, contract files.

Resumable: the work is split into shards (:mod:`reconstruction_pipeline.shards`); every finished shard is written
atomically to ``BUNDLE/.work/shards/``, beside ``BUNDLE/.work/config.json`` (what the run is). A re-run with the same
arguments skips finished shards and ends with the same bundle (byte-identical tables and images); a re-run with a
different configuration is refused. The contract files are written last, through :func:`contracts.bundle.write_bundle`
(manifest last of all), so a directory with a manifest is a finished bundle.

Bundle layout beyond the contract (extra files and columns are allowed by it):

- ``images/``: display PNGs named by content hash (:func:`contracts.bundle.content_name`), upscaled to
  ``display_size`` with Pillow (``lanczos`` by default, ``nearest`` keeps tiny images' pixels sharp);
- ``review/<target_id>.png``: for researchers only (not served): target beside a generators x attempts grid, rows
  labelled by generator with each attempt's final distance;
- ``data/targets.npy``: the targets exactly as synthesised (float32, lossless), row ``data_row`` of targets.csv;
- ``data/final_seeds_<generator>.npy``: final seeds, row ``seed_row`` of reconstructions.csv;
- ``data/loss_curves.csv``: distance of every attempt at the recorded steps;
- extra columns: targets.csv ``target_seed``, ``data_row``; reconstructions.csv ``best_distance``, ``init_seed``,
  ``seed_file``, ``seed_row``.

Conditions (``BuildOptions.conditions``, docs/contracts.md addendum): every clean source target is put under every
condition (:func:`~reconstruction_pipeline.targets.apply_conditions`, on the run's device), each (source, condition)
is a target of its own, and a shard holds whole sources -- all their conditions -- so every condition of a candidate
generator is reconstructed in the same batch. Such a bundle is schema_version 2 (``conditions`` in the manifest,
``condition`` and ``source_target`` in targets.csv); ``data/targets.npy`` holds the targets as reconstructed (after
the condition), ``target_seed`` is the source's. Without conditions the bundle is schema_version 1 (no condition keys
or columns).
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from tqdm import tqdm

from contracts.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from contracts.bundle import (IMAGES_DIR, MANIFEST_FILE, Bundle, Manifest, Reconstruction, ReconstructionConfig,
                              Target, content_name, read_bundle, write_bundle)
from contracts.conditions import CLEAN_CONDITION
from contracts.errors import ContractError
from reconstruction_pipeline import __version__
from reconstruction_pipeline.conditions import resolve
from reconstruction_pipeline.distances import Distance
from reconstruction_pipeline.errors import PipelineError
from reconstruction_pipeline.executors import ShardWorker, WorkSpec, run_local, run_ray
from reconstruction_pipeline.generators import Generator, weights_fingerprint
from reconstruction_pipeline.precision import describe as precision_describe
from reconstruction_pipeline.shards import ReconstructionSettings, ShardResult, ShardTask, load_result, save_result
from reconstruction_pipeline.sources import GeneratorSource
from reconstruction_pipeline.targets import TargetSet, apply_conditions, init_seed, synthesize_targets

WORK_DIR = ".work"
CONFIG_FILE = "config.json"
RESAMPLE = {"lanczos": Image.Resampling.LANCZOS, "nearest": Image.Resampling.NEAREST}


@dataclass(frozen=True)
class BuildOptions:
    """What a build makes (all of it is the run's identity, checked on resume); ``reconstruction``: how every attempt
    is reconstructed, the one object the shards and the Ray workers receive."""

    targets_per_generator: int
    attempts: int
    seed: int
    reconstruction: ReconstructionSettings
    display_size: int | None = None
    resample: str = "lanczos"
    targets_per_shard: int = 32
    conditions: tuple[str, ...] | None = None  # canonical names in build order; None: clean only, schema_version 1

    def identity(self) -> dict[str, Any]:
        r = self.reconstruction.identity()
        out: dict[str, Any] = {
            "targets_per_generator": self.targets_per_generator, "attempts": self.attempts, "steps": r.pop("steps"),
            "lr": r.pop("lr"), "distance": r.pop("distance"), "seed": self.seed,
            "feature_weights": r.pop("feature_weights"), "display_size": self.display_size, "resample": self.resample,
            "record_every": r.pop("record_every"), "targets_per_shard": self.targets_per_shard}
        if self.conditions is not None:
            out["conditions"] = list(self.conditions)
        out.update(r)  # the reconstruction settings added since (precision, memory_format), each only when not at its default
        return out

    @property
    def schema_version(self) -> int:
        return 1 if self.conditions is None else 2

    def sources_per_shard(self) -> int:
        """With conditions a shard holds whole sources: ``targets_per_shard // conditions`` of them (at least 1)."""
        return max(1, self.targets_per_shard // len(self.conditions)) if self.conditions else self.targets_per_shard


@dataclass(frozen=True)
class Runner:
    """How shards run: ``local`` (in this process, on the generators and distance the build was given) or ``ray``
    (on ``ray_workers`` actors, which load them on ``device``, as given: auto | cpu | cuda[:N])."""

    executor: str = "local"
    device: str = "auto"
    ray_workers: int = 2
    ray_address: str | None = None


def run_identity(options: BuildOptions, generators: Sequence[Generator], source: GeneratorSource,
                 distance: Distance, device: torch.device) -> dict[str, Any]:
    return {"options": options.identity(), "source": source.describe(),
            "generators": [{**g.spec.info().to_json(), "weights_sha256": weights_fingerprint(g)} for g in generators],
            "distance": {"name": distance.name, **distance.describe()}, "device_type": device.type,
            "schema": options.schema_version}


def plan_shards(targets: TargetSet, generators: Sequence[Generator], options: BuildOptions) -> list[ShardTask]:
    """One task per candidate generator x chunk of ``targets_per_shard`` targets (all attempts), chunk-major: every
    candidate of the first chunk, then of the next, so finished work covers whole targets early. With conditions a
    chunk is :meth:`BuildOptions.sources_per_shard` whole sources, all their conditions (``targets`` is ordered
    source by source, see :func:`~reconstruction_pipeline.targets.apply_conditions`)."""
    tasks: list[ShardTask] = []
    n = len(targets.ids)
    arr = targets.images.numpy()
    chunk = options.sources_per_shard() * len(options.conditions) if options.conditions else options.targets_per_shard
    for ci, start in enumerate(range(0, n, chunk)):
        for gi, g in enumerate(generators):
            idx = tuple(range(start, min(n, start + chunk)))
            seeds = tuple(init_seed(options.seed, targets.ids[i], g.id, a) for i in idx for a in range(options.attempts))
            tasks.append(ShardTask(key=f"{gi:03d}-{ci:05d}", generator=g.id, target_index=idx, targets=arr[list(idx)],
                                   init_seeds=seeds, attempts=options.attempts))
    return tasks


def recorded_search(out: str | Path) -> tuple[str, str] | None:
    """The (precision, memory format) an earlier build in ``out`` searched in, from its identity (a field absent
    from it is at its default: fp32, contiguous), or None when ``out`` holds no readable build."""
    config = Path(out) / WORK_DIR / CONFIG_FILE
    try:
        options = json.loads(config.read_text(encoding="utf-8")).get("options", {})
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(options, dict):
        return None
    return str(options.get("precision", "fp32")), str(options.get("memory_format", "contiguous"))


def prepare_out_dir(out: Path, identity: dict[str, Any]) -> str:
    """Check ``out`` may receive this run. Returns ``new``, ``resume`` or ``done``; raises on a different run."""
    config = out / WORK_DIR / CONFIG_FILE
    if out.exists() and not out.is_dir():
        raise PipelineError(f"--out {out}: exists and is not a directory", exit_code=2)
    if config.is_file():
        try:
            old = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            raise PipelineError(f"{config}: unreadable; delete {out / WORK_DIR} to start this bundle afresh") from None
        if old != identity:
            raise PipelineError(f"{out} was built with a different configuration ({_first_difference(old, identity)}); "
                                "re-run with the same arguments or choose another --out")
        return "done" if (out / MANIFEST_FILE).is_file() else "resume"
    if out.is_dir() and any(out.iterdir()):
        raise PipelineError(f"--out {out}: directory is not empty and holds no build of this pipeline; "
                            "choose a new or empty directory")
    return "new"


def _first_difference(old: Any, new: Any, path: str = "") -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new), key=str):
            if old.get(k) != new.get(k):
                return _first_difference(old.get(k), new.get(k), f"{path}.{k}" if path else str(k))
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            if a != b:
                return _first_difference(a, b, f"{path}[{i}]")
    return f"{path or 'config'}: was {json.dumps(old)}, now {json.dumps(new)}"


def remove_stale_temporaries(out: Path) -> None:
    """Temporary files of atomic writes cut short by a kill (``.NAME.XXXX.tmp``, see :mod:`contracts.atomic`)."""
    for d in (out, out / WORK_DIR, out / WORK_DIR / "shards", out / IMAGES_DIR, out / "review", out / "data"):
        if d.is_dir():
            for p in d.glob(".*.tmp"):
                p.unlink(missing_ok=True)


def software_version() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10,
                             check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"reconstruction_pipeline {__version__}" + (f" (git {sha})" if sha else "")


# --------------------------------------------------------------------------------------------------- images

def to_uint8(image: np.ndarray) -> np.ndarray:
    """[3, H, W] float in [-1, 1] -> [H, W, 3] uint8 (round to nearest)."""
    x = np.clip(np.rint((image.astype(np.float64) + 1.0) * 127.5), 0, 255)
    return x.astype(np.uint8).transpose(1, 2, 0)


def display_image(image: np.ndarray, *, size: int | None, resample: str) -> Image.Image:
    im = Image.fromarray(to_uint8(image), mode="RGB")
    if size is not None and im.size != (size, size):
        im = im.resize((size, size), RESAMPLE[resample])
    return im


def png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def write_display_image(root: Path, image: np.ndarray, *, size: int | None, resample: str) -> str:
    """Write a display image under ``images/`` with a content-hash name; returns its bundle-relative path."""
    data = png_bytes(display_image(image, size=size, resample=resample))
    rel = f"{IMAGES_DIR}/{content_name(data)}"
    path = root / rel
    if not path.is_file():
        atomic_write_bytes(path, data)
    return rel


def review_grid(target: np.ndarray, rows: Sequence[tuple[str, Sequence[tuple[np.ndarray, float]]]], *,
                cell: int, title: str) -> Image.Image:
    """Target on the left; one row per generator (label, then each attempt with its final distance)."""
    label_w, pad, text_h = 110, 6, 14
    ncols = max(len(r[1]) for r in rows)
    width = cell + label_w + ncols * (cell + pad) + 3 * pad
    height = text_h + len(rows) * (cell + text_h + pad) + 2 * pad
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((pad, 2), title, fill="black")
    canvas.paste(display_image(target, size=cell, resample="nearest"), (pad, text_h + pad))
    draw.text((pad, text_h + pad + cell + 2), "target", fill="black")
    x0 = cell + 2 * pad
    for r, (label, attempts) in enumerate(rows):
        y = text_h + pad + r * (cell + text_h + pad)
        draw.text((x0, y + cell // 2 - 6), label[:16], fill="black")
        for c, (img, dist) in enumerate(attempts):
            x = x0 + label_w + c * (cell + pad)
            canvas.paste(display_image(img, size=cell, resample="nearest"), (x, y))
            draw.text((x, y + cell + 1), f"{dist:.4g}", fill="black")
    return canvas


# --------------------------------------------------------------------------------------------------- build

def build_bundle(out: str | Path, *, generators: Sequence[Generator], source: GeneratorSource,
                 distance: Distance, device: torch.device, options: BuildOptions, runner: Runner,
                 progress: bool = True, on_shard_done: Callable[[str], None] | None = None,
                 on_targets: Callable[[TargetSet], None] | None = None) -> Bundle:
    """Build (or resume) the bundle in ``out``; returns the bundle as read back through the contract."""
    out = Path(out)
    identity = run_identity(options, generators, source, distance, device)
    state = prepare_out_dir(out, identity)
    if state == "done":  # finished with this exact configuration: rewrite nothing (a live study may be serving it)
        try:
            return read_bundle(out)
        except ContractError:
            pass  # damaged since: assemble it again below
    work = out / WORK_DIR
    if state != "new":
        remove_stale_temporaries(out)
    atomic_write_json(work / CONFIG_FILE, identity)

    targets = synthesize_targets(generators, per_generator=options.targets_per_generator, seed=options.seed,
                                 device=device)
    if on_targets is not None:  # e.g. build --ledger: log every generated (clean) target before any condition or reconstruction
        on_targets(targets)
    if options.conditions is not None:
        targets = apply_conditions(targets, [resolve(c) for c in options.conditions], seed=options.seed,
                                   device=device, generators=generators, distance=distance)
    tasks = plan_shards(targets, generators, options)
    results: dict[str, ShardResult] = {}
    todo: list[ShardTask] = []
    for task in tasks:
        res = load_result(work / "shards" / f"{task.key}.npz", task)
        if res is None:
            todo.append(task)
        else:
            results[task.key] = res

    steps = options.reconstruction.steps
    total = sum(t.n_attempts for t in tasks) * steps
    done = sum(t.n_attempts for t in tasks if t.key in results) * steps
    bar = tqdm(total=total, initial=done, unit="attempt-step", unit_scale=True, disable=not progress,
               desc=f"reconstructing ({len(todo)} of {len(tasks)} shards to do)", mininterval=1.0, smoothing=0.1)

    def on_result(task: ShardTask, res: ShardResult) -> None:
        save_result(work / "shards" / f"{task.key}.npz", res)
        results[task.key] = res
        if on_shard_done is not None:
            on_shard_done(task.key)

    try:
        if todo:
            spec = WorkSpec(source, options.reconstruction, runner.device)
            if runner.executor == "ray":
                run_ray(spec, todo, on_result, bar.update, workers=runner.ray_workers, address=runner.ray_address)
            else:
                run_local(ShardWorker(spec, device, generators, distance), todo, on_result, bar.update)
    finally:
        bar.close()
    return assemble(out, targets=targets, generators=generators, tasks=tasks, results=results, options=options,
                    distance=distance, identity=identity)


def assemble(out: Path, *, targets: TargetSet, generators: Sequence[Generator], tasks: Sequence[ShardTask],
             results: dict[str, ShardResult], options: BuildOptions, distance: Distance,
             identity: dict[str, Any]) -> Bundle:
    """Display images, review grids, data files, then the contract files (manifest last)."""
    size, resample, attempts = options.display_size, options.resample, options.attempts
    # (target row, generator) -> (task, first row of that target's attempts in the task's result)
    where: dict[tuple[int, str], tuple[ShardTask, int]] = {}
    for task in tasks:
        for j, ti in enumerate(task.target_index):
            where[(ti, task.generator)] = (task, j * attempts)

    order = sorted(range(len(targets.ids)), key=lambda i: targets.ids[i])  # the table's order reveals nothing
    target_rows: list[Target] = []
    recon_rows: list[Reconstruction] = []
    seed_rows: dict[str, list[np.ndarray]] = {g.id: [] for g in generators}
    curve_lines: list[list[str]] = []
    curve_steps: list[int] = []
    for ti in order:
        tid = targets.ids[ti]
        timg = targets.images[ti].numpy()
        condition = targets.condition_of(ti)
        target_rows.append(Target(tid, targets.true_generators[ti], write_display_image(out, timg, size=size,
                                                                                          resample=resample),
                                  {"target_seed": str(targets.seeds[ti]), "data_row": str(ti)},
                                  condition, targets.source_of(ti)))
        grid_rows: list[tuple[str, list[tuple[np.ndarray, float]]]] = []
        for g in generators:
            task, r0 = where[(ti, g.id)]
            res = results[task.key]
            curve_steps = [int(s) for s in res.curve_steps]
            cells: list[tuple[np.ndarray, float]] = []
            for a in range(attempts):
                r = r0 + a
                dist = float(res.final_distance[r])
                seed_file = f"data/final_seeds_{g.id}.npy"
                recon_rows.append(Reconstruction(
                    tid, g.id, a, dist, write_display_image(out, res.final_images[r], size=size, resample=resample),
                    {"best_distance": repr(float(res.best_distance[r])), "init_seed": str(int(res.init_seeds[r])),
                     "seed_file": seed_file, "seed_row": str(len(seed_rows[g.id]))}))
                seed_rows[g.id].append(res.final_seeds[r])
                curve_lines.append([tid, g.id, str(a), *(repr(float(v)) for v in res.curve[r])])
                cells.append((res.final_images[r], dist))
            grid_rows.append((g.id, cells))
        cell = max(64, size or 0, targets.images.shape[-1])
        grid = review_grid(timg, grid_rows, cell=min(cell, 256),
                           title=f"{tid}  true: {targets.true_generators[ti]}  ({distance.name} distance)"
                                 + (f"  condition: {condition}" if options.conditions is not None else ""))
        atomic_write_bytes(out / "review" / f"{tid}.png", png_bytes(grid))

    _write_npy(out / "data" / "targets.npy", targets.images.numpy())
    for g in generators:
        _write_npy(out / "data" / f"final_seeds_{g.id}.npy", np.stack(seed_rows[g.id]))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["target_id", "generator", "attempt", *(f"step_{s}" for s in curve_steps)])
    w.writerows(curve_lines)
    atomic_write_text(out / "data" / "loss_curves.csv", buf.getvalue())

    settings = options.reconstruction
    manifest = Manifest(
        generators=tuple(g.spec.info() for g in generators),
        reconstruction=ReconstructionConfig(settings.steps, settings.lr, attempts, settings.distance, options.seed,
                                            {"optimizer": "adam", "record_every": settings.record_every,
                                             **precision_describe(settings.precision), **distance.describe()}),
        software=software_version(),
        # clean only: version 1, without the condition keys and columns (readers of version 1 read it)
        schema_version=options.schema_version,
        extra={"targets_per_generator": options.targets_per_generator,
               "display": {"size": size, "resample": resample},
               "build": identity},
        conditions=(tuple(resolve(c).condition for c in options.conditions) if options.conditions is not None
                    else (CLEAN_CONDITION,)),
    )
    return write_bundle(out, manifest, target_rows, recon_rows)


def _write_npy(path: Path, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())
