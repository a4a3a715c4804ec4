"""The stimulus bundle as the study serves it: validation, an in-process cache, image URLs, publishing.

The bundle is read only through ``contracts.bundle.read_bundle``; this module adds the study's own checks and
an index from (target, generator, attempt) to an opaque image *file name* (the bundle's content-hash names).
Participants receive ``<base URL><file name>`` and nothing else about an image.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from contracts.bundle import MANIFEST_FILE, Bundle, read_bundle, secret_words
from contracts.conditions import CLEAN
from contracts.errors import ContractError

DEV_STATIC_DIR = Path(__file__).resolve().parent.parent / "_static" / "stimuli"
DEV_BASE_URL = "/static/stimuli/"
BASE_URL_ENV = "STIMULUS_BASE_URL"
COLUMNS = 3  # the study design: three reconstruction attempts per row


class StudyConfigError(ValueError):
    """A session config or bundle the study cannot run with; the message is one line for the admin page."""


@dataclass(frozen=True)
class StimulusSet:
    """One bundle's targets and reconstructions, indexed for serving (image file names, truth, conditions)."""

    root: Path
    fingerprint: str
    generator_ids: tuple[str, ...]
    attempts: int
    target_ids: tuple[str, ...]
    truth: tuple[str, ...]                          # true generator per target index
    target_image: tuple[str, ...]                   # file name per target index
    cell_image: dict[tuple[int, str, int], str]     # (target index, generator, attempt) -> file name
    all_images: tuple[Path, ...]                    # every display image, absolute
    labels: tuple[str, ...] = ()                    # generator labels (manifest)
    manifest_mtime_ns: int = 0                      # to notice a bundle rewritten under a running server
    # conditions (docs/contracts.md, conditions addendum; a version-1 bundle: one condition, clean, each target its own source)
    conditions: tuple[str, ...] = (CLEAN,)          # condition names, in the manifest's order
    condition_of: tuple[int, ...] = ()              # condition index per target index
    source_ids: tuple[str, ...] = ()                # source_target ids, in order of first appearance
    source_of: tuple[int, ...] = ()                 # source index per target index
    source_members: tuple[tuple[int, ...], ...] = ()  # target indices per source index

    def secret_words(self) -> tuple[str, ...]:
        """Strings that must never reach a participant's browser: the contract's one list (``secret_words``)."""
        return secret_words(generator_ids=self.generator_ids, generator_labels=self.labels,
                            target_ids=self.target_ids, source_targets=self.source_ids, conditions=self.conditions)

    @property
    def clean_index(self) -> int | None:
        """The index of the clean condition, None when the bundle has no clean targets."""
        return self.conditions.index(CLEAN) if CLEAN in self.conditions else None

    @property
    def n_slots(self) -> int:
        return len(self.generator_ids) * self.attempts


def check_study(bundle: Bundle) -> None:
    """The study's own requirements on top of the contract."""
    gens = bundle.generator_ids
    if len(gens) < 2:
        raise StudyConfigError(f"{bundle.root}: the study needs at least 2 generators, the bundle has {len(gens)}")
    if bundle.attempts != COLUMNS:
        raise StudyConfigError(f"{bundle.root}: the study shows {COLUMNS} attempts per row (columns) but the bundle "
                               f"has attempts={bundle.attempts}; rebuild it with {COLUMNS} attempts")
    for t in bundle.targets:  # rows == generators: every target has every generator's full row
        grid = bundle.grid(t.target_id)
        short = [g for g, recs in grid.items() if len(recs) != COLUMNS]
        if short:
            raise StudyConfigError(f"{bundle.root}: target {t.target_id!r} lacks a full row for {short[0]!r}")


def load_stimulus_set(path: str | Path) -> StimulusSet:
    """Read, validate and index a bundle. Raises StudyConfigError with one clear line."""
    root = Path(path).expanduser().resolve()
    try:
        bundle = read_bundle(root)
    except ContractError as e:
        raise StudyConfigError(str(e)) from None
    check_study(bundle)
    index = {t.target_id: i for i, t in enumerate(bundle.targets)}
    cells = {(index[r.target_id], r.generator, r.attempt): Path(r.image).name for r in bundle.reconstructions}
    images = tuple(sorted({root / t.image for t in bundle.targets} | {root / r.image for r in bundle.reconstructions}))
    fingerprint = (f"{bundle.manifest.created_at}|{len(bundle.targets)}|{len(bundle.reconstructions)}|"
                   f"{','.join(bundle.generator_ids)}")
    conditions = tuple(c.name for c in bundle.manifest.conditions)
    condition_index = {c: i for i, c in enumerate(conditions)}
    source_index: dict[str, int] = {}
    for t in bundle.targets:
        source_index.setdefault(t.source_target, len(source_index))
    source_of = tuple(source_index[t.source_target] for t in bundle.targets)
    members: list[list[int]] = [[] for _ in source_index]
    for i, s in enumerate(source_of):
        members[s].append(i)
    return StimulusSet(root, fingerprint, bundle.generator_ids, bundle.attempts, tuple(index),
                       tuple(t.true_generator for t in bundle.targets),
                       tuple(Path(t.image).name for t in bundle.targets), cells, images,
                       tuple(g.label for g in bundle.manifest.generators), _manifest_mtime(root),
                       conditions, tuple(condition_index[t.condition] for t in bundle.targets), tuple(source_index),
                       source_of, tuple(tuple(m) for m in members))


def _manifest_mtime(root: Path) -> int:
    try:
        return (root / MANIFEST_FILE).stat().st_mtime_ns
    except OSError:
        return -1


_CACHE: dict[Path, StimulusSet] = {}


def cached_stimulus_set(path: str | Path, fingerprint: str | None = None) -> StimulusSet:
    """The stimulus set of the bundle at ``path``, read once per server process; re-read if the fingerprint changed.

    A bundle replaced under a running session is an error (its answers would no longer match the export).
    """
    root = Path(path).expanduser().resolve()
    study = _CACHE.get(root)
    if study is None or study.manifest_mtime_ns != _manifest_mtime(root) or (
            fingerprint is not None and study.fingerprint != fingerprint):
        study = load_stimulus_set(root)
        _CACHE[root] = study
    if fingerprint is not None and study.fingerprint != fingerprint:
        raise StudyConfigError(f"{root}: the bundle changed after the session was created "
                               "(restore it, or create a new session)")
    return study


def base_url(configured: str | None = None) -> str:
    """Where participants fetch images: the config value, else $STIMULUS_BASE_URL, else oTree's static folder."""
    url = (configured or os.environ.get(BASE_URL_ENV) or DEV_BASE_URL).strip()
    return url if url.endswith("/") else url + "/"


def publish(study: StimulusSet, dest: str | Path = DEV_STATIC_DIR) -> tuple[int, int]:
    """Copy every display image into ``dest`` (flat, by its content-hash name); returns (copied, already there).

    Idempotent and collision-free: a name is the hash of its content, so an existing file of the same size is
    the same image. Each copy is written to a temporary name and renamed, so a reader never sees half a file.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    copied = skipped = 0
    for src in study.all_images:
        out = dest / src.name
        if out.is_file() and out.stat().st_size == src.stat().st_size:
            skipped += 1
            continue
        tmp = dest / f".{src.name}.tmp{os.getpid()}"
        shutil.copyfile(src, tmp)
        os.replace(tmp, out)
        copied += 1
    return copied, skipped
