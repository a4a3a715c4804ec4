"""Bundle validation for the study, the in-process cache, image URLs and publishing (study_app.stimuli)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from study_app import stimuli
from study_app.stimuli import StudyConfigError, base_url, cached_stimulus_set, load_stimulus_set, publish
from tests.helpers import make_bundle

ROOT = Path(__file__).resolve().parents[2]


def test_load_study_indexes_cells_by_opaque_names(tmp_path: Path) -> None:
    b = make_bundle(tmp_path, n_targets=4)
    study = load_stimulus_set(b.root)
    assert study.generator_ids == ("dcgan", "stylegan", "progan") and study.n_slots == 9
    assert len(study.cell_image) == 4 * 3 * 3 and len(study.all_images) == 4 + 36
    for name in [*study.target_image, *study.cell_image.values()]:
        assert "/" not in name and len(name) == 36 and name.endswith(".png")
    assert set(study.secret_words()) >= {"dcgan", "DCGAN", "t000", "t003"}


@pytest.mark.parametrize("kwargs, message", [
    (dict(generators=("dcgan",)), "at least 2 generators"),
    (dict(attempts=2), "shows 3 attempts per row"),
    (dict(attempts=4), "shows 3 attempts per row"),
])
def test_study_checks(tmp_path: Path, kwargs: dict, message: str) -> None:
    b = make_bundle(tmp_path, n_targets=2, **kwargs)
    with pytest.raises(StudyConfigError, match=message):
        load_stimulus_set(b.root)


def test_contract_errors_become_one_line(tmp_path: Path) -> None:
    b = make_bundle(tmp_path, n_targets=2)
    raw = json.loads((b.root / "manifest.json").read_text())
    raw["schema_version"] = 99
    (b.root / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(StudyConfigError) as e:
        load_stimulus_set(b.root)
    assert "schema_version 99" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(StudyConfigError, match="no such bundle directory"):
        load_stimulus_set(tmp_path / "missing")
    next((b.root / "images").iterdir()).unlink()
    raw["schema_version"] = 1
    (b.root / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(StudyConfigError, match="does not exist"):
        load_stimulus_set(b.root)


def test_cache_detects_a_bundle_replaced_under_a_session(tmp_path: Path) -> None:
    b = make_bundle(tmp_path, n_targets=3)
    first = cached_stimulus_set(b.root)
    assert cached_stimulus_set(b.root, first.fingerprint) is first
    make_bundle(tmp_path, n_targets=4, seed=1)  # same directory, different bundle
    with pytest.raises(StudyConfigError, match="changed after the session was created"):
        cached_stimulus_set(b.root, first.fingerprint)


def test_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(stimuli.BASE_URL_ENV, raising=False)
    assert base_url() == "/static/stimuli/"
    monkeypatch.setenv(stimuli.BASE_URL_ENV, "https://cdn.example.org/s")
    assert base_url() == "https://cdn.example.org/s/"
    assert base_url("/stimuli/") == "/stimuli/"


def test_publish_is_idempotent(tmp_path: Path) -> None:
    b = make_bundle(tmp_path, n_targets=3)
    study = load_stimulus_set(b.root)
    dest = tmp_path / "static"
    assert publish(study, dest) == (len(study.all_images), 0)
    assert publish(study, dest) == (0, len(study.all_images))
    assert sorted(p.name for p in dest.iterdir()) == sorted(p.name for p in study.all_images)
    assert all((dest / p.name).read_bytes() == p.read_bytes() for p in study.all_images)


def test_publish_cli(tmp_path: Path) -> None:
    b = make_bundle(tmp_path, n_targets=2)
    dest = tmp_path / "out"
    ok = subprocess.run([sys.executable, "-m", "study_app.publish", str(b.root), str(dest)], cwd=ROOT,
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "20 images copied, 0 already there" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "study_app.publish", str(tmp_path / "nope"), str(dest)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1 and "no such bundle" in bad.stderr
