"""tests.helpers.make_bundle writes a bundle that the contract reader accepts, with the attribution it promises."""

from pathlib import Path

import pytest

from contracts.bundle import read_bundle
from tests.helpers import make_bundle


def test_make_bundle_is_valid_and_distinct(tmp_path: Path) -> None:
    b = make_bundle(tmp_path, n_targets=4, generators=("dcgan", "stylegan"), attempts=3, algorithm_wrong={"t002"})
    again = read_bundle(b.root)
    assert len(again.targets) == 4 and len(again.reconstructions) == 4 * 2 * 3
    names = [t.image for t in b.targets] + [r.image for r in b.reconstructions]
    assert len(set(names)) == len(names)  # every image distinct
    assert all((b.root / n).is_file() for n in names)
    attribution = b.algorithm_attribution()
    truth = {t.target_id: t.true_generator for t in b.targets}
    assert {t for t in truth if attribution[t] != truth[t]} == {"t002"}


def test_make_bundle_condition_kinds_are_the_registrys(tmp_path: Path) -> None:
    """Each condition's manifest kind comes from contracts.conditions.builtin_category (held equal to the pipeline's
    registry by tests/pipeline/test_attacks_conditions.py), not from the name's spelling; an unknown kind is refused."""
    conds = ("clean", "jpeg:q=50", "fgsm-image:eps=0.03", "evade:l2=1", "frame:l2=4,target=stylegan", "cw-image:c=1")
    b = make_bundle(tmp_path, n_targets=1, conditions=conds)
    assert [(c.name, c.kind) for c in b.manifest.conditions] == [
        ("clean", "clean"), ("jpeg:q=50", "perturbation"), ("fgsm-image:eps=0.03", "attack"), ("evade:l2=1", "attack"),
        ("frame:l2=4,target=stylegan", "attack"), ("cw-image:c=1", "attack")]
    with pytest.raises(ValueError, match="not a built-in condition kind"):
        make_bundle(tmp_path, n_targets=1, conditions=("clean", "pgd:eps=0.03"), name="unknown")


def test_make_bundle_generator_count(tmp_path: Path) -> None:
    b = make_bundle(tmp_path, n_targets=2, generators=4, attempts=2)
    assert b.generator_ids == ("gen0", "gen1", "gen2", "gen3") and b.attempts == 2


def test_image_index_maps_every_served_image_to_its_truth(tmp_path: Path) -> None:
    from contracts.responses import PLACEBO
    from tests.helpers.image_index import Cell, ImageIndex

    b = make_bundle(tmp_path, n_targets=2, generators=("dcgan", "stylegan"), attempts=3)
    index = ImageIndex.of(b)
    t = b.targets[1]
    assert index[f"/stimuli/{t.image.rsplit('/', 1)[-1]}"] == Cell(t.target_id, PLACEBO, None)  # the copies row
    assert index.target_of(t.image) == t.target_id
    r = b.reconstructions[4]
    assert index[r.image] == Cell(r.target_id, r.generator, r.attempt) and index.all(r.image) == [index[r.image]]
