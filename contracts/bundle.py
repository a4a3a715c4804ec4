"""The stimulus bundle: the directory the pipeline writes and the study app and the analysis read.

Layout (docs/contracts.md, and its conditions addendum for schema_version 2)::

    BUNDLE/
      manifest.json         schema_version, created_at, generators, reconstruction, software, conditions (v2)
      targets.csv           target_id, true_generator, image, condition (v2), source_target (v2)
      reconstructions.csv   target_id, generator, attempt, distance, image
      images/               display images with opaque (content-hash) names

This module is the only code that reads or writes those three files. Extra manifest keys and extra CSV columns
are allowed and preserved (``extra``); the listed ones are required.

Versions: this module writes schema_version 2 by default and reads 1 and 2. A version 1 bundle has no conditions:
it is read as one condition, ``clean``, every target's ``condition`` is ``clean`` and its ``source_target`` its own
id, so every reader sees the same :class:`Target` fields whatever the version. A :class:`Manifest` with
``schema_version=1`` is written without the version 2 keys and columns (byte-for-byte a version 1 bundle, for
readers of version 1 only); it can only hold clean targets.

Condition names follow the one canonical rule of :mod:`contracts.conditions`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from contracts.atomic import atomic_write_json, atomic_write_text
from contracts.conditions import (CLEAN, CLEAN_CONDITION, KINDS, Condition, ConditionSpecError, canonical_condition,
                                  parse_condition)
from contracts.csvfile import iter_rows, read_text
from contracts.errors import ContractError

SCHEMA_VERSION = 2
READABLE_SCHEMA_VERSIONS: tuple[int, ...] = (1, 2)
MANIFEST_FILE = "manifest.json"
TARGETS_FILE = "targets.csv"
RECONSTRUCTIONS_FILE = "reconstructions.csv"
IMAGES_DIR = "images"

TARGET_COLUMNS: tuple[str, ...] = ("target_id", "true_generator", "image")
TARGET_COLUMNS_V2: tuple[str, ...] = (*TARGET_COLUMNS, "condition", "source_target")
RECONSTRUCTION_COLUMNS: tuple[str, ...] = ("target_id", "generator", "attempt", "distance", "image")
MANIFEST_KEYS: tuple[str, ...] = ("schema_version", "created_at", "generators", "reconstruction", "software")
GENERATOR_KEYS: tuple[str, ...] = ("id", "label", "source", "resolution", "latent_dim")
RECONSTRUCTION_KEYS: tuple[str, ...] = ("steps", "lr", "attempts", "distance", "seed")

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

# Names of the fields that carry the ground truth (the placebo row's marker, the bundle's truth columns): like the
# truth itself they never reach a participant's browser (see :func:`secret_words`).
TRUTH_FIELDS: tuple[str, ...] = ("PLACEBO", "true_generator", "source_target")


def is_generator_id(gen_id: object) -> bool:
    """A short id of letters, digits, '.', '_' or '-', starting with a letter or digit, and not PLACEBO."""
    return isinstance(gen_id, str) and bool(_ID_PATTERN.match(gen_id)) and gen_id != "PLACEBO"


@dataclass(frozen=True)
class GeneratorInfo:
    id: str
    label: str
    source: str
    resolution: int
    latent_dim: int
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "source": self.source, "resolution": self.resolution,
                "latent_dim": self.latent_dim, **dict(self.extra)}


@dataclass(frozen=True)
class ReconstructionConfig:
    steps: int
    lr: float
    attempts: int
    distance: str
    seed: int
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"steps": self.steps, "lr": self.lr, "attempts": self.attempts, "distance": self.distance,
                "seed": self.seed, **dict(self.extra)}


@dataclass(frozen=True)
class Manifest:
    generators: tuple[GeneratorInfo, ...]
    reconstruction: ReconstructionConfig
    software: str
    created_at: str = field(default_factory=lambda: utc_now_iso())
    schema_version: int = SCHEMA_VERSION
    extra: Mapping[str, Any] = field(default_factory=dict)
    conditions: tuple[Condition, ...] = (CLEAN_CONDITION,)  # build order; version 1: (clean,)

    @property
    def generator_ids(self) -> tuple[str, ...]:
        return tuple(g.id for g in self.generators)

    @property
    def condition_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.conditions)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema_version": self.schema_version, "created_at": self.created_at,
                               "generators": [g.to_json() for g in self.generators],
                               "reconstruction": self.reconstruction.to_json(), "software": self.software}
        if self.schema_version >= 2:
            out["conditions"] = [c.to_json() for c in self.conditions]
        return {**out, **dict(self.extra)}


@dataclass(frozen=True)
class Target:
    """One target. ``condition``: its condition's name (``clean`` in a version 1 bundle); ``source_target``: the id
    of the clean target it was made from (its own id when clean; given as empty, it is set to ``target_id``)."""

    target_id: str
    true_generator: str
    image: str
    extra: Mapping[str, str] = field(default_factory=dict)
    condition: str = CLEAN
    source_target: str = ""

    def __post_init__(self) -> None:
        if not self.source_target:
            object.__setattr__(self, "source_target", self.target_id)


@dataclass(frozen=True)
class Reconstruction:
    target_id: str
    generator: str
    attempt: int
    distance: float
    image: str
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Bundle:
    """A validated bundle in memory. Paths in rows are relative to ``root``."""

    root: Path
    manifest: Manifest
    targets: tuple[Target, ...]
    reconstructions: tuple[Reconstruction, ...]

    @property
    def generator_ids(self) -> tuple[str, ...]:
        return self.manifest.generator_ids

    @property
    def attempts(self) -> int:
        return self.manifest.reconstruction.attempts

    @property
    def conditions(self) -> tuple[Condition, ...]:
        return self.manifest.conditions

    @property
    def condition_names(self) -> tuple[str, ...]:
        return self.manifest.condition_names

    def condition(self, name: str) -> Condition:
        for c in self.manifest.conditions:
            if c.name == name:
                return c
        raise KeyError(name)

    def target(self, target_id: str) -> Target:
        for t in self.targets:
            if t.target_id == target_id:
                return t
        raise KeyError(target_id)

    def grid(self, target_id: str) -> dict[str, list[Reconstruction]]:
        """Reconstructions of one target: generator id -> rows ordered by attempt."""
        out: dict[str, list[Reconstruction]] = {g: [] for g in self.generator_ids}
        for r in self.reconstructions:
            if r.target_id == target_id:
                out[r.generator].append(r)
        for rows in out.values():
            rows.sort(key=lambda r: r.attempt)
        return out

    def image_path(self, relative: str) -> Path:
        return self.root / relative

    def secret_words(self) -> tuple[str, ...]:
        """The bundle's :func:`secret_words`: what must never reach a participant's browser."""
        return secret_words(generator_ids=self.generator_ids,
                            generator_labels=(g.label for g in self.manifest.generators),
                            target_ids=(t.target_id for t in self.targets),
                            source_targets=(t.source_target for t in self.targets),
                            conditions=self.condition_names)

    def algorithm_attribution(self) -> dict[str, str]:
        """target_id -> the generator the algorithm attributes it to (contract rule, see :func:`attribute`)."""
        return attribute((r.target_id, r.generator, r.distance) for r in self.reconstructions)


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def secret_words(*, generator_ids: Iterable[str], generator_labels: Iterable[str], target_ids: Iterable[str],
                 source_targets: Iterable[str], conditions: Iterable[str]) -> tuple[str, ...]:
    """The one list of words that must never reach a participant's browser (nor a display image's name): the
    generator ids and labels (hence the truth), the target ids, the source target ids, the condition names and
    :data:`TRUTH_FIELDS`; in that order, without empty strings and repeats.

    Every leak check uses this list and chooses only how to match it: the bundle's opaque-name check
    (:func:`read_bundle`: case-insensitive substrings of 3 or more characters, ``clean`` left out), the study's oTree
    bots (case-insensitive whole words) and the live tests (case-insensitive substrings, ``clean`` left out: it occurs
    inside the JavaScript libraries every page loads)."""
    words = [*generator_ids, *generator_labels, *target_ids, *source_targets, *conditions, *TRUTH_FIELDS]
    return tuple(dict.fromkeys(w for w in words if w))


def attribute(rows: Iterable[tuple[str, str, float]]) -> dict[str, str]:
    """Paper eq. (5): each target goes to the generator whose smallest distance over attempts is smallest.

    ``rows`` are ``(target_id, generator, distance)``. Ties go to the lowest generator id in sort order.
    """
    best: dict[str, dict[str, float]] = {}
    for target_id, generator, distance in rows:
        per_gen = best.setdefault(target_id, {})
        if generator not in per_gen or distance < per_gen[generator]:
            per_gen[generator] = distance
    return {t: min(sorted(per_gen), key=lambda g: per_gen[g]) for t, per_gen in best.items()}


def content_name(data: bytes, suffix: str = ".png") -> str:
    """An opaque, content-derived file name for a display image (reveals nothing about what made it)."""
    return hashlib.sha256(data).hexdigest()[:32] + suffix


# --------------------------------------------------------------------------------------------------- reading


def read_bundle(root: str | Path, *, check_images: bool = True) -> Bundle:
    """Read and validate a bundle directory. Raises :class:`ContractError` naming the file, row and problem."""
    root = Path(root)
    if not root.is_dir():
        raise ContractError(root, "no such bundle directory (build one with `python -m reconstruction_pipeline build`)")
    manifest = _read_manifest(root / MANIFEST_FILE)
    gen_ids = set(manifest.generator_ids)

    targets: list[Target] = []
    seen_targets: set[str] = set()
    path = root / TARGETS_FILE
    v2 = manifest.schema_version >= 2
    condition_names = set(manifest.condition_names)
    pairs: set[tuple[str, str]] = set()
    source_truth: dict[str, tuple[str, int]] = {}  # source_target -> (true_generator, first line)
    for line, row, extra in _read_csv(path, TARGET_COLUMNS_V2 if v2 else TARGET_COLUMNS):
        if v2:
            t = Target(_id(path, line, row, "target_id"), row["true_generator"], row["image"], extra,
                       row["condition"], _id(path, line, row, "source_target"))
        else:
            t = Target(_id(path, line, row, "target_id"), row["true_generator"], row["image"], extra)
        if t.target_id in seen_targets:
            raise ContractError(path, f"duplicate target_id {t.target_id!r}", line=line)
        if t.true_generator not in gen_ids:
            raise ContractError(path, f"true_generator {t.true_generator!r} is not a generator of manifest.json "
                                      f"({', '.join(sorted(gen_ids))})", line=line)
        if v2:
            _check_target_condition(path, line, t, condition_names, pairs, source_truth)
        _check_image(root, path, line, t.image, check_images)
        seen_targets.add(t.target_id)
        targets.append(t)
    if not targets:
        raise ContractError(path, "no targets")
    by_id = {t.target_id: t for t in targets}
    for source in source_truth:
        if source in by_id and by_id[source].condition != CLEAN:
            raise ContractError(path, f"source_target {source!r} is a target of condition "
                                      f"{by_id[source].condition!r}; a source_target must be a clean target")

    recs: list[Reconstruction] = []
    seen: set[tuple[str, str, int]] = set()
    path = root / RECONSTRUCTIONS_FILE
    attempts = manifest.reconstruction.attempts
    for line, row, extra in _read_csv(path, RECONSTRUCTION_COLUMNS):
        r = Reconstruction(row["target_id"], row["generator"], _int(path, line, row, "attempt"),
                           _float(path, line, row, "distance"), row["image"], extra)
        if r.target_id not in seen_targets:
            raise ContractError(path, f"target_id {r.target_id!r} is not in {TARGETS_FILE}", line=line)
        if r.generator not in gen_ids:
            raise ContractError(path, f"generator {r.generator!r} is not a generator of manifest.json", line=line)
        if not 0 <= r.attempt < attempts:
            raise ContractError(path, f"attempt {r.attempt} outside 0..{attempts - 1} (manifest attempts={attempts})",
                                line=line)
        key = (r.target_id, r.generator, r.attempt)
        if key in seen:
            raise ContractError(path, f"duplicate row for target {r.target_id!r}, generator {r.generator!r}, "
                                      f"attempt {r.attempt}", line=line)
        _check_image(root, path, line, r.image, check_images)
        seen.add(key)
        recs.append(r)
    expected = len(targets) * len(gen_ids) * attempts
    if len(recs) != expected:
        missing = sorted({t.target_id for t in targets} - {k[0] for k in seen})[:3]
        raise ContractError(path, f"{len(recs)} reconstructions, expected {expected} = {len(targets)} targets x "
                                  f"{len(gen_ids)} generators x {attempts} attempts"
                                  + (f" (first targets with none: {', '.join(missing)})" if missing else ""))
    _check_opaque_names(root, targets, recs, manifest)
    return Bundle(root, manifest, tuple(targets), tuple(recs))


def _check_target_condition(path: Path, line: int, t: Target, names: set[str], pairs: set[tuple[str, str]],
                            source_truth: dict[str, tuple[str, int]]) -> None:
    if t.condition not in names:
        raise ContractError(path, f"condition {t.condition!r} is not a condition of manifest.json "
                                  f"({', '.join(sorted(names))})", line=line)
    if (t.condition == CLEAN) != (t.source_target == t.target_id):
        raise ContractError(path, f"target {t.target_id!r}: source_target must be the target's own id exactly when "
                                  f"its condition is {CLEAN!r} (condition {t.condition!r}, source_target "
                                  f"{t.source_target!r})", line=line)
    if (t.source_target, t.condition) in pairs:
        raise ContractError(path, f"two targets of source_target {t.source_target!r} under condition "
                                  f"{t.condition!r}", line=line)
    pairs.add((t.source_target, t.condition))
    first = source_truth.setdefault(t.source_target, (t.true_generator, line))
    if first[0] != t.true_generator:
        raise ContractError(path, f"target {t.target_id!r}: true_generator {t.true_generator!r} differs from "
                                  f"{first[0]!r} of another target of source_target {t.source_target!r} "
                                  f"(line {first[1]})", line=line)


def _read_conditions(path: Path, raw: object) -> tuple[Condition, ...]:
    if not isinstance(raw, list) or not raw:
        raise ContractError(path, "`conditions` must be a non-empty list of {name, kind, params} objects")
    out: list[Condition] = []
    for i, c in enumerate(raw):
        if not isinstance(c, dict) or any(k not in c for k in ("name", "kind", "params")):
            raise ContractError(path, f"conditions[{i}] must be an object with keys name, kind, params")
        name, kind, params = c["name"], c["kind"], c["params"]
        try:
            canonical = canonical_condition(name)
            spec_kind, spec_params = parse_condition(name)
        except ConditionSpecError as e:
            raise ContractError(path, f"conditions[{i}].name: {e}") from None
        if name != canonical:
            raise ContractError(path, f"conditions[{i}].name {name!r} is not canonical; write {canonical!r}")
        if kind not in KINDS:
            raise ContractError(path, f"conditions[{i}].kind {kind!r} must be one of {', '.join(KINDS)}")
        if (kind == CLEAN) != (spec_kind == CLEAN) or (spec_kind == CLEAN and spec_params):
            raise ContractError(path, f"conditions[{i}]: the condition named {CLEAN!r} (no parameters) and only it "
                                      f"has kind {CLEAN!r} (got name {name!r}, kind {kind!r})")
        if not isinstance(params, dict) or _plain(params) != _plain(spec_params):
            raise ContractError(path, f"conditions[{i}].params {json.dumps(params)} disagree with its name {name!r} "
                                      f"(expected {json.dumps(spec_params)})")
        out.append(Condition(name, kind, spec_params))
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise ContractError(path, f"duplicate condition names: {names}")
    return tuple(out)


def _plain(params: Mapping[str, object]) -> dict[str, tuple[str, object]]:
    """Parameters for comparison: numbers by value (50 == 50.0), strings as strings, never a number equal to a bool."""
    return {k: (("num", float(v)) if isinstance(v, (int, float)) and not isinstance(v, bool) else (type(v).__name__, v))
            for k, v in params.items()}


def _read_manifest(path: Path) -> Manifest:
    if not path.is_file():
        raise ContractError(path, "missing (is this a stimulus bundle directory?)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ContractError(path, f"not valid JSON: {e}") from None
    if not isinstance(raw, dict):
        raise ContractError(path, "must hold a JSON object")
    missing = [k for k in MANIFEST_KEYS if k not in raw]
    if missing:
        raise ContractError(path, f"missing key(s): {', '.join(missing)}")
    version = raw["schema_version"]
    if isinstance(version, bool) or version not in READABLE_SCHEMA_VERSIONS:
        raise ContractError(path, f"schema_version {version!r}; this software reads versions "
                                  f"{', '.join(map(str, READABLE_SCHEMA_VERSIONS))} (rebuild the bundle with this "
                                  "version of the pipeline)")
    if version >= 2:
        if "conditions" not in raw:
            raise ContractError(path, "missing key: conditions (required by schema_version 2)")
        conditions = _read_conditions(path, raw["conditions"])
    else:
        conditions = (CLEAN_CONDITION,)
    gens_raw = raw["generators"]
    if not isinstance(gens_raw, list) or not gens_raw:
        raise ContractError(path, "`generators` must be a non-empty list")
    gens: list[GeneratorInfo] = []
    for i, g in enumerate(gens_raw):
        if not isinstance(g, dict) or any(k not in g for k in GENERATOR_KEYS):
            raise ContractError(path, f"generators[{i}] must be an object with keys {', '.join(GENERATOR_KEYS)}")
        if not is_generator_id(g["id"]):
            raise ContractError(path, f"generators[{i}].id {g['id']!r} must be a short id of letters, digits, "
                                      "'.', '_' or '-' (and not PLACEBO)")
        try:
            res, dim = int(g["resolution"]), int(g["latent_dim"])
        except (TypeError, ValueError):
            raise ContractError(path, f"generators[{i}]: resolution and latent_dim must be integers") from None
        gens.append(GeneratorInfo(g["id"], str(g["label"]), str(g["source"]), res, dim,
                                  {k: v for k, v in g.items() if k not in GENERATOR_KEYS}))
    ids = [g.id for g in gens]
    if len(set(ids)) != len(ids):
        raise ContractError(path, f"duplicate generator ids: {ids}")
    rc = raw["reconstruction"]
    if not isinstance(rc, dict) or any(k not in rc for k in RECONSTRUCTION_KEYS):
        raise ContractError(path, f"`reconstruction` must be an object with keys {', '.join(RECONSTRUCTION_KEYS)}")
    try:
        config = ReconstructionConfig(int(rc["steps"]), float(rc["lr"]), int(rc["attempts"]), str(rc["distance"]),
                                      int(rc["seed"]), {k: v for k, v in rc.items() if k not in RECONSTRUCTION_KEYS})
    except (TypeError, ValueError):
        raise ContractError(path, "`reconstruction`: steps, attempts and seed must be integers, lr a number") from None
    if config.attempts < 1:
        raise ContractError(path, f"`reconstruction.attempts` must be >= 1, got {config.attempts}")
    known = (*MANIFEST_KEYS, "conditions") if version >= 2 else MANIFEST_KEYS
    return Manifest(tuple(gens), config, str(raw["software"]), str(raw["created_at"]), int(version),
                    {k: v for k, v in raw.items() if k not in known}, conditions)


def _read_csv(path: Path, columns: Sequence[str]) -> Iterable[tuple[int, dict[str, str], dict[str, str]]]:
    for line, row in iter_rows(read_text(path, missing="missing"), path, columns):
        yield line, {c: row[c] for c in columns}, {k: v for k, v in row.items() if k not in columns}


def _id(path: Path, line: int, row: Mapping[str, str], col: str) -> str:
    value = row[col]
    if not value.strip():
        raise ContractError(path, f"empty {col}", line=line)
    return value


def _int(path: Path, line: int, row: Mapping[str, str], col: str) -> int:
    try:
        return int(row[col])
    except ValueError:
        raise ContractError(path, f"{col} must be an integer, got {row[col]!r}", line=line) from None


def _float(path: Path, line: int, row: Mapping[str, str], col: str) -> float:
    try:
        value = float(row[col])
    except ValueError:
        raise ContractError(path, f"{col} must be a number, got {row[col]!r}", line=line) from None
    if not math.isfinite(value):
        raise ContractError(path, f"{col} must be finite, got {row[col]!r}", line=line)
    return value


def _check_image(root: Path, path: Path, line: int, image: str, check_exists: bool) -> None:
    p = Path(image)
    if p.is_absolute() or ".." in p.parts or not image:
        raise ContractError(path, f"image {image!r} must be a path relative to the bundle, inside it", line=line)
    if check_exists and not (root / p).is_file():
        raise ContractError(path, f"image {image!r} does not exist in {root}", line=line)


_HEX = set("0123456789abcdef")


def _check_opaque_names(root: Path, targets: Sequence[Target], recs: Sequence[Reconstruction],
                        manifest: Manifest) -> None:
    """Display image names must reveal none of the :func:`secret_words`, in any case. Conditions: their kinds are
    checked too (a name would carry ``jpeg`` rather than ``jpeg:q=50``); ``clean`` is not (a common word that tells
    nothing about the truth), nor is a pure-hex condition name or kind such as "fade" (it could occur in a content
    hash by chance)."""
    secrets = secret_words(generator_ids=manifest.generator_ids,
                           generator_labels=(g.label for g in manifest.generators),
                           target_ids=(t.target_id for t in targets),
                           source_targets=(t.source_target for t in targets), conditions=manifest.condition_names)
    unchecked = {CLEAN} | {c.name for c in manifest.conditions if set(c.name) <= _HEX}
    words = {w.lower() for w in secrets if w not in unchecked}
    words |= {c.spec_kind for c in manifest.conditions if c.spec_kind != CLEAN and not set(c.spec_kind) <= _HEX}
    words = {w for w in words if len(w) >= 3}
    tables: tuple[tuple[Sequence[Target | Reconstruction], str], ...] = (
        (targets, TARGETS_FILE), (recs, RECONSTRUCTIONS_FILE))
    for rows, fname in tables:
        names = [Path(row.image).name.lower() for row in rows]
        # Fast path (same result): only words made of characters that occur in some name can occur in one, and
        # a name is then checked by slicing it at the candidate words' lengths (not by scanning every word).
        alphabet = set("".join(names))
        candidates = {w for w in words if set(w) <= alphabet}
        lengths = sorted({len(w) for w in candidates})
        for row, name in zip(rows, names):
            if not any(name[i:i + n] in candidates for n in lengths for i in range(len(name) - n + 1)):
                continue
            leaked = sorted(w for w in words if w in name)
            if leaked:
                raise ContractError(root / fname, f"display image name {row.image!r} reveals {leaked[0]!r}; "
                                                  "display images must have opaque names (e.g. content hashes)")


# --------------------------------------------------------------------------------------------------- writing


def write_manifest(root: str | Path, manifest: Manifest) -> None:
    atomic_write_json(Path(root) / MANIFEST_FILE, manifest.to_json())


def write_targets(root: str | Path, targets: Sequence[Target], *, schema_version: int = SCHEMA_VERSION) -> None:
    """targets.csv; version 1 (no condition columns) only for clean targets."""
    if schema_version >= 2:
        atomic_write_text(Path(root) / TARGETS_FILE, _csv_text(TARGET_COLUMNS_V2, [
            ([t.target_id, t.true_generator, t.image, t.condition, t.source_target], t.extra) for t in targets]))
        return
    not_clean = [t.target_id for t in targets if t.condition != CLEAN or t.source_target != t.target_id]
    if not_clean:
        raise ValueError(f"schema_version 1 holds clean targets only; target {not_clean[0]!r} is not clean "
                         "(write schema_version 2)")
    atomic_write_text(Path(root) / TARGETS_FILE,
                      _csv_text(TARGET_COLUMNS, [([t.target_id, t.true_generator, t.image], t.extra) for t in targets]))


def write_reconstructions(root: str | Path, recs: Sequence[Reconstruction]) -> None:
    atomic_write_text(Path(root) / RECONSTRUCTIONS_FILE,
                      _csv_text(RECONSTRUCTION_COLUMNS,
                                [([r.target_id, r.generator, str(r.attempt), repr(float(r.distance)), r.image],
                                  r.extra) for r in recs]))


def write_bundle(root: str | Path, manifest: Manifest, targets: Sequence[Target],
                 reconstructions: Sequence[Reconstruction]) -> Bundle:
    """Write the three contract files (images must already be in place) and return the bundle as read back.

    The manifest is written last, so a directory with a manifest always has its tables.
    """
    root = Path(root)
    if manifest.schema_version < 2 and manifest.conditions != (CLEAN_CONDITION,):
        raise ValueError("schema_version 1 has no conditions; write schema_version 2")
    write_targets(root, targets, schema_version=manifest.schema_version)
    write_reconstructions(root, reconstructions)
    write_manifest(root, manifest)
    return read_bundle(root)


def _csv_text(columns: Sequence[str], rows: Iterable[tuple[list[str], Mapping[str, str]]]) -> str:
    rows = list(rows)
    extra_cols: list[str] = []
    for _, extra in rows:
        for k in extra:
            if k not in extra_cols and k not in columns:
                extra_cols.append(k)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*columns, *extra_cols])
    for values, extra in rows:
        w.writerow([*values, *(str(extra.get(k, "")) for k in extra_cols)])
    return buf.getvalue()
