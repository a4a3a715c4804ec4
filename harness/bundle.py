"""``make_bundle``: a real, valid stimulus bundle on disk for tests, written through ``contracts.synthetic``.

Every display image is a small distinct PNG named by its content hash (:func:`contracts.synthetic.tiny_png`), so
the bundle passes ``read_bundle`` exactly as a pipeline-built one does. Standard library only (works in both venvs).

    bundle = make_bundle(tmp_path, n_targets=6, generators=("dcgan", "stylegan", "progan"), attempts=3)
    v2 = make_bundle(tmp_path, n_targets=6, conditions=("clean", "jpeg:q=50", "mirror"))   # 18 targets

Without ``conditions`` the bundle is schema_version 1 (no condition columns: the old format, read as all-clean);
with them it is schema_version 2 (docs/contracts.md addendum): every source target under every condition.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from contracts.bundle import Bundle, GeneratorInfo, Manifest, Reconstruction, ReconstructionConfig, Target
from contracts.conditions import CLEAN, Condition, builtin_category, canonical_condition, parse_condition
from contracts.synthetic import PLACEHOLDER_IMAGE, write_synthetic_bundle

# Ids chosen so that no hex content-hash name can contain them (letters outside a-f).
DEFAULT_GENERATORS: tuple[str, ...] = ("dcgan", "stylegan", "progan")


def make_bundle(tmp_path: str | Path, *, n_targets: int = 6, generators: int | Sequence[str] = DEFAULT_GENERATORS,
                attempts: int = 3, seed: int = 0, image_size: int = 8, algorithm_wrong: Collection[str] = (),
                name: str = "bundle", conditions: Sequence[str] | None = None) -> Bundle:
    """Write a valid bundle under ``tmp_path / name`` and return it as read back by ``read_bundle``.

    ``generators``: a count (ids ``gen0``, ``gen1``, ...) or explicit ids. Targets ``t000``, ``t001``, ... are
    assigned true generators round-robin. Distances: the true generator is the closest for every target except
    those listed in ``algorithm_wrong`` (there the next generator in order is closest), so the algorithm's
    attribution is known exactly. ``seed`` makes the pixels reproducible (``image_size`` x ``image_size``, >= 2).

    ``conditions`` (canonical names of built-in kinds, e.g. ``("clean", "jpeg:q=50", "evade:l2=1")``; each one's
    manifest ``kind`` is :func:`contracts.conditions.builtin_category`): write schema_version 2 with ``n_targets``
    *source* targets, each under every condition (in that order). The clean one of source ``i`` is ``t{i:03d}``,
    the others ``t{i:03d}k{j}`` (``j``: the condition's position); ``source_target`` is always ``t{i:03d}``, also
    when ``clean`` is not among the conditions. Each has its own display image and reconstructions.
    """
    if isinstance(generators, int):
        if generators < 1:
            raise ValueError(f"generators must be >= 1, got {generators}")
        gen_ids: tuple[str, ...] = tuple(f"gen{i}" for i in range(generators))
    else:
        gen_ids = tuple(generators)
    if n_targets < 1 or attempts < 1:
        raise ValueError(f"n_targets and attempts must be >= 1, got {n_targets}, {attempts}")
    names = [CLEAN] if conditions is None else [canonical_condition(c) for c in conditions]
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"conditions must be distinct and non-empty, got {list(conditions or [])}")
    targets: list[Target] = []
    recs: list[Reconstruction] = []
    wrong = set(algorithm_wrong)
    for i in range(n_targets):
        source = f"t{i:03d}"
        true_gen = gen_ids[i % len(gen_ids)]
        for j, cond in enumerate(names):
            tid = source if cond == CLEAN else f"{source}k{j}"
            targets.append(Target(tid, true_gen, PLACEHOLDER_IMAGE, condition=cond, source_target=source))
            closest = gen_ids[(i + 1) % len(gen_ids)] if tid in wrong and len(gen_ids) > 1 else true_gen
            for g in gen_ids:
                for a in range(attempts):
                    base = 0.1 if g == closest else 0.5 + 0.1 * gen_ids.index(g)
                    recs.append(Reconstruction(tid, g, a, round(base + 0.01 * a, 6), PLACEHOLDER_IMAGE))
    unknown = wrong - {t.target_id for t in targets}
    if unknown:
        raise ValueError(f"algorithm_wrong names unknown targets: {sorted(unknown)}")
    manifest = Manifest(
        generators=tuple(GeneratorInfo(g, g.upper(), "test fixture", image_size, 16) for g in gen_ids),
        reconstruction=ReconstructionConfig(steps=10, lr=0.05, attempts=attempts, distance="mse", seed=seed),
        software="tests.helpers.make_bundle",
        schema_version=1 if conditions is None else 2,
        conditions=tuple(_condition(c) for c in names),
    )
    return write_synthetic_bundle(Path(tmp_path) / name, manifest, targets, recs, image_size=image_size,
                                  seed=seed)


def _condition(name: str) -> Condition:
    """The manifest entry, its category from the pipeline's built-in kinds (an unknown kind is refused)."""
    return Condition(name, builtin_category(name), parse_condition(name)[1])
