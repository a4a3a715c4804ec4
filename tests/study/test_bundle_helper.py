"""tests.helpers.make_bundle writes a bundle that the contract reader accepts, with the attribution it promises."""

from pathlib import Path

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


def test_make_bundle_generator_count(tmp_path: Path) -> None:
    b = make_bundle(tmp_path, n_targets=2, generators=4, attempts=2)
    assert b.generator_ids == ("gen0", "gen1", "gen2", "gen3") and b.attempts == 2
