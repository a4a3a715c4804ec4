"""The stimulus bundle contract: round trip, validation errors, attribution tie rule, opaque names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts.bundle import (
    RECONSTRUCTIONS_FILE,
    TARGETS_FILE,
    GeneratorInfo,
    Manifest,
    Reconstruction,
    ReconstructionConfig,
    Target,
    attribute,
    read_bundle,
    write_bundle,
)
from contracts.errors import ContractError
from tests.helpers.bundle import image_writer

GENS = ("alpha", "beta", "gamma")


def build(root: Path, *, n_targets: int = 2, attempts: int = 3) -> Path:
    """A real bundle: distinct image files with content-hash names, every (target, generator, attempt) row."""
    image = image_writer(root)
    targets = [Target(f"t{i}", GENS[i % 3], image()) for i in range(n_targets)]
    recs = [Reconstruction(t.target_id, g, a, 0.1 * (gi + 1) + 0.01 * a + (0 if g == t.true_generator else 1.0),
                           image())
            for t in targets for gi, g in enumerate(GENS) for a in range(attempts)]
    manifest = Manifest(tuple(GeneratorInfo(g, g.title(), "test", 8, 16) for g in GENS),
                        ReconstructionConfig(10, 0.1, attempts, "pixel", 0), "test")
    write_bundle(root, manifest, targets, recs)
    return root


def test_round_trip_and_algorithm_attribution(tmp_path: Path) -> None:
    b = read_bundle(build(tmp_path / "b", n_targets=4))
    assert b.generator_ids == GENS
    assert b.attempts == 3
    assert [t.target_id for t in b.targets] == ["t0", "t1", "t2", "t3"]
    assert len(b.reconstructions) == 4 * 3 * 3
    # the true generator got the small distances, so the algorithm is right on every target
    assert b.algorithm_attribution() == {t.target_id: t.true_generator for t in b.targets}
    grid = b.grid("t1")
    assert list(grid) == list(GENS) and [r.attempt for r in grid["beta"]] == [0, 1, 2]
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert {"schema_version", "created_at", "generators", "reconstruction", "software"} <= set(manifest)
    assert manifest["reconstruction"] == {"steps": 10, "lr": 0.1, "attempts": 3, "distance": "pixel", "seed": 0}


def test_attribute_takes_min_over_attempts_and_breaks_ties_by_lowest_id() -> None:
    rows = [("x", "b", 0.5), ("x", "b", 0.2), ("x", "a", 0.3),  # b's best attempt (0.2) beats a (0.3)
            ("y", "c", 0.1), ("y", "a", 0.1), ("y", "b", 0.4)]  # tie between a and c -> a
    assert attribute(rows) == {"x": "b", "y": "a"}


def test_extra_columns_are_kept(tmp_path: Path) -> None:
    root = build(tmp_path / "b")
    text = (root / RECONSTRUCTIONS_FILE).read_text().splitlines()
    text = [text[0] + ",best_distance"] + [line + ",0.5" for line in text[1:]]
    (root / RECONSTRUCTIONS_FILE).write_text("\n".join(text) + "\n")
    assert read_bundle(root).reconstructions[0].extra == {"best_distance": "0.5"}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: (r / "manifest.json").unlink(), "manifest.json: missing"),
        (lambda r: (r / "manifest.json").write_text("{"), "not valid JSON"),
        (lambda r: _edit_manifest(r, schema_version=3), "schema_version 3"),
        (lambda r: _edit_manifest(r, generators=[]), "non-empty list"),
        (lambda r: _replace(r / TARGETS_FILE, "true_generator", "truth"), "missing column(s): true_generator"),
        (lambda r: _replace(r / TARGETS_FILE, ",alpha,", ",delta,"), "true_generator 'delta'"),
        (lambda r: _replace(r / RECONSTRUCTIONS_FILE, "t0,alpha,0,", "t0,alpha,zero,"), "attempt must be an integer"),
        (lambda r: _replace(r / RECONSTRUCTIONS_FILE, "t1,beta,2,", "t1,beta,7,"), "attempt 7 outside 0..2"),
        (lambda r: _drop_last_line(r / RECONSTRUCTIONS_FILE), "expected 18"),
        (lambda r: next((r / "images").iterdir()).unlink(), "does not exist"),
        (lambda r: _rename_image(r, "alpha"), "reveals 'alpha'"),
    ],
)
def test_bad_bundles_give_one_clear_error(tmp_path: Path, mutate, message: str) -> None:
    root = build(tmp_path / "b")
    mutate(root)
    with pytest.raises(ContractError) as err:
        read_bundle(root)
    assert message in str(err.value)
    assert str(root) in str(err.value)  # names the file


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="no such bundle directory"):
        read_bundle(tmp_path / "nope")


def _edit_manifest(root: Path, **changes: object) -> None:
    data = json.loads((root / "manifest.json").read_text())
    data.update(changes)
    (root / "manifest.json").write_text(json.dumps(data))


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _drop_last_line(path: Path) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")


def _rename_image(root: Path, word: str) -> None:
    text = (root / RECONSTRUCTIONS_FILE).read_text()
    first = text.splitlines()[1].split(",")[-1]
    new = f"images/{word}_0.png"
    (root / first).rename(root / new)
    (root / RECONSTRUCTIONS_FILE).write_text(text.replace(first, new, 1))
