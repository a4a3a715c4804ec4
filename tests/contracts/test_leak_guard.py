"""The opaque-name guard of read_bundle: a display image name must not reveal a generator id, a generator label or
a target id (the ground truth behind it), in any case, anywhere in the name, in either table."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.bundle import (RECONSTRUCTIONS_FILE, TARGETS_FILE, GeneratorInfo, Manifest, Reconstruction,
                              ReconstructionConfig, Target, read_bundle, write_bundle)
from contracts.errors import ContractError
from tests.helpers.bundle import image_writer

GENS = {"alpha": "Kestrel", "beta": "Osprey"}          # id -> label: labels differ from ids on purpose
TARGET_IDS = ("t3fa9c01b2e", "t88d0e4a7c1")


def build(root: Path) -> Path:
    image = image_writer(root)
    targets = [Target(tid, list(GENS)[i % 2], image()) for i, tid in enumerate(TARGET_IDS)]
    recs = [Reconstruction(t.target_id, g, a, 0.1 + a, image()) for t in targets for g in GENS for a in range(3)]
    manifest = Manifest(tuple(GeneratorInfo(g, label, "test", 8, 16) for g, label in GENS.items()),
                        ReconstructionConfig(10, 0.1, 3, "pixel", 0), "test")
    write_bundle(root, manifest, targets, recs)
    return root


def _rename(root: Path, table: str, row: int, new_name: str) -> None:
    """Give the image of data row ``row`` of ``table`` a new file name (file and table both)."""
    lines = (root / table).read_text().splitlines()
    column = next(i for i, c in enumerate(lines[0].split(",")) if c.endswith("image"))   # the image column
    old = lines[row + 1].split(",")[column]
    new = f"images/{new_name}"
    (root / old).rename(root / new)
    lines[row + 1] = lines[row + 1].replace(old, new)
    (root / table).write_text("\n".join(lines) + "\n")


def test_opaque_names_pass(tmp_path: Path) -> None:
    b = read_bundle(build(tmp_path / "b"))
    assert len(b.targets) == 2 and len(b.reconstructions) == 12


@pytest.mark.parametrize("table, row, name, revealed", [
    (RECONSTRUCTIONS_FILE, 0, "t3fa9c01b2e_0.png", "t3fa9c01b2e"),         # a target id (hence its truth)
    (RECONSTRUCTIONS_FILE, 7, "x-T88D0E4A7C1.png", "t88d0e4a7c1"),          # another target's id, upper case
    (TARGETS_FILE, 1, "img_t88d0e4a7c1.png", "t88d0e4a7c1"),                # the target's own id
    (RECONSTRUCTIONS_FILE, 4, "kestrel.png", "kestrel"),                    # a generator label
    (TARGETS_FILE, 0, "0042-Osprey-07.png", "osprey"),                      # a label, mixed case, mid-name
    (RECONSTRUCTIONS_FILE, 11, "9f1e0beta.png", "beta"),                    # a generator id at the end
    (TARGETS_FILE, 1, "ALPHA3.png", "alpha"),                               # an id at the start, upper case
])
def test_names_revealing_ground_truth_are_refused(tmp_path: Path, table: str, row: int, name: str,
                                                  revealed: str) -> None:
    root = build(tmp_path / "b")
    _rename(root, table, row, name)
    with pytest.raises(ContractError) as err:
        read_bundle(root)
    message = str(err.value)
    assert f"reveals {revealed!r}" in message and table in message and name in message
