"""``build --conditions``: every source under every condition, schema_version 2, each perturbed target equal to the
perturbation of its clean source alone, all conditions of a candidate in one shard, resumable, refusing changes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from contracts.bundle import read_bundle
from reconstruction_pipeline.bundle_builder import BuildOptions, plan_shards
from reconstruction_pipeline.cli import main
from reconstruction_pipeline.conditions import ConditionContext, apply_condition, resolve
from reconstruction_pipeline.shards import ReconstructionSettings
from reconstruction_pipeline.targets import apply_conditions, condition_seed, synthesize_targets

CONDS = "clean,jpeg:q=50.0,mirror,noise:var=0.01"
NAMES = ["clean", "jpeg:q=50", "mirror", "noise:var=0.01"]
BASE = ["build", "--zoo", "tiny", "--targets-per-generator", "2", "--attempts", "2", "--steps", "4", "--seed", "3",
        "--device", "cpu", "--no-progress", "--targets-per-shard", "8"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cond") / "bundle"
    assert main([*BASE, "--conditions", CONDS, "--out", str(out)]) == 0
    return out


def test_version_2_bundle_with_every_source_under_every_condition(built: Path) -> None:
    b = read_bundle(built)
    raw = json.loads((built / "manifest.json").read_text())
    assert raw["schema_version"] == 2 and [c["name"] for c in raw["conditions"]] == NAMES
    assert raw["conditions"][1] == {"name": "jpeg:q=50", "kind": "perturbation", "params": {"q": 50}}
    assert len(b.targets) == 6 * 4 and len(b.reconstructions) == 24 * 3 * 2
    sources = {t.source_target for t in b.targets}
    assert len(sources) == 6
    for s in sources:
        group = [t for t in b.targets if t.source_target == s]
        assert sorted(t.condition for t in group) == sorted(NAMES)
        assert len({t.true_generator for t in group}) == 1
        assert next(t for t in group if t.condition == "clean").target_id == s
    assert len({t.image for t in b.targets}) == 24  # every perturbed target has its own display image


def test_perturbed_targets_are_their_clean_source_perturbed_alone(built: Path, tiny: list) -> None:
    b = read_bundle(built)
    data = np.load(built / "data" / "targets.npy")
    by_id = {t.target_id: t for t in b.targets}
    ctx = ConditionContext(device=torch.device("cpu"))
    for t in b.targets:
        if t.condition == "clean":
            continue
        src = torch.from_numpy(data[int(by_id[t.source_target].extra["data_row"])])[None]
        ref = apply_condition(resolve(t.condition), src, [condition_seed(3, t.source_target, t.condition)], ctx)
        assert torch.allclose(torch.from_numpy(data[int(t.extra["data_row"])]), ref[0], atol=1e-6), t.condition
    # the clean sources are the targets an unconditioned build synthesises
    clean = synthesize_targets(tiny, per_generator=2, seed=3)
    assert {t.target_id for t in b.targets if t.condition == "clean"} == set(clean.ids)


def test_all_conditions_of_a_source_share_a_shard(tiny: list) -> None:
    options = BuildOptions(targets_per_generator=2, attempts=2, seed=3,
                           reconstruction=ReconstructionSettings(steps=4, lr=0.1, distance="pixel"),
                           targets_per_shard=8, conditions=tuple(NAMES))
    sources = synthesize_targets(tiny, per_generator=2, seed=3)
    targets = apply_conditions(sources, [resolve(n) for n in NAMES], seed=3, device="cpu")
    tasks = plan_shards(targets, tiny, options)
    assert len(tasks) == 3 * 3  # 6 sources, 2 per shard, x 3 candidates
    for task in tasks:
        srcs = {targets.source_of(i) for i in task.target_index}
        assert len(srcs) == 2
        assert sorted(targets.condition_of(i) for i in task.target_index) == sorted(NAMES * 2)
    # j-major: the first shard holds source 0 of the first two generators
    first = {targets.true_generators[i] for i in tasks[0].target_index}
    assert first == {tiny[0].id, tiny[1].id}


def test_rerun_resumes_and_changed_conditions_are_refused(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (built / "targets.csv").read_bytes()
    assert main([*BASE, "--conditions", "clean, jpeg:q=50, mirror, noise:var=1e-2", "--out", str(built)]) == 0
    assert (built / "targets.csv").read_bytes() == before  # the same canonical conditions: the same run
    capsys.readouterr()
    assert main([*BASE, "--conditions", "clean,jpeg:q=70,mirror,noise:var=0.01", "--out", str(built)]) == 1
    err = capsys.readouterr().err
    assert "different configuration" in err and "jpeg:q=70" in err and err.count("\n") == 1
    assert main([*BASE, "--out", str(built)]) == 1  # and dropping --conditions is a change too


@pytest.mark.parametrize(("spec", "message"), [("clean,blur:k=4", "must be odd"), ("sepia", "unknown condition"),
                                               ("jpeg:q=101", "[1, 100]"), ("crop:min=0", "(0, 1]")])
def test_bad_conditions_exit_2_before_anything_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          spec: str, message: str) -> None:
    out = tmp_path / "never"
    assert main([*BASE, "--conditions", spec, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: --conditions:") and err.count("\n") == 1
    assert not out.exists()


def test_without_conditions_the_bundle_stays_version_1(tmp_path: Path) -> None:
    out = tmp_path / "v1"
    assert main([*BASE, "--targets-per-generator", "1", "--steps", "2", "--out", str(out)]) == 0
    raw = json.loads((out / "manifest.json").read_text())
    assert raw["schema_version"] == 1 and "conditions" not in raw and "conditions" not in raw["build"]["options"]
    assert (out / "targets.csv").read_text().splitlines()[0] == "target_id,true_generator,image,target_seed,data_row"
    assert all(t.condition == "clean" for t in read_bundle(out).targets)


def test_attribute_also_mirrored_takes_the_smaller_distance(tiny: list, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    from reconstruction_pipeline.attribution import attribute_images
    from reconstruction_pipeline.distances import build_distance
    from reconstruction_pipeline.generators import seeded_latents
    from reconstruction_pipeline.perturbations import mirror
    from reconstruction_pipeline.targets import load_user_image

    with torch.no_grad():
        img = mirror(tiny[1].synthesize(seeded_latents([42], tiny[1].latent_dim)))  # a mirrored deepfake
    arr = np.clip(np.rint((img[0].numpy().transpose(1, 2, 0) + 1) * 127.5), 0, 255).astype(np.uint8)
    path = tmp_path / "m.png"
    Image.fromarray(arr).save(path)
    assert main(["attribute", str(path), "--zoo", "tiny", "--steps", "8", "--attempts", "2", "--also-mirrored"]) == 0
    line = capsys.readouterr().out.strip()
    x = load_user_image(path, resolution=8)
    dist = build_distance("pixel", device="cpu")
    plain = attribute_images(["m"], x, tiny, attempts=2, steps=8, distance=dist)[0].distances
    flipped = attribute_images(["m"], mirror(x), tiny, attempts=2, steps=8, distance=dist)[0].distances
    best = {g: min(plain[g], flipped[g]) for g in plain}
    assert line.startswith(f"{path}: {min(sorted(best), key=lambda g: best[g])} ")
    for g, d in best.items():
        assert f"{g}={d:.6g}" in line


def test_build_identity_keeps_its_keys_and_their_order() -> None:
    """The run's identity (``.work/config.json``, the manifest's ``build.options``) is what a resume compares: the
    reconstruction settings sit among the build options in the order builds have always written, and a setting added
    since (precision) appears only where it is not at its default, so older builds resume."""
    settings = ReconstructionSettings(steps=4, lr=0.1, distance="pixel", record_every=2)
    options = BuildOptions(targets_per_generator=2, attempts=2, seed=3, reconstruction=settings, targets_per_shard=8)
    assert list(options.identity().items()) == [
        ("targets_per_generator", 2), ("attempts", 2), ("steps", 4), ("lr", 0.1), ("distance", "pixel"), ("seed", 3),
        ("feature_weights", None), ("display_size", None), ("resample", "lanczos"), ("record_every", 2),
        ("targets_per_shard", 8)]
    bf16 = BuildOptions(targets_per_generator=2, attempts=2, seed=3, targets_per_shard=8, conditions=("clean",),
                        reconstruction=ReconstructionSettings(steps=4, lr=0.1, record_every=2, precision="bf16"))
    assert list(bf16.identity())[-2:] == ["conditions", "precision"] and bf16.identity()["precision"] == "bf16"
