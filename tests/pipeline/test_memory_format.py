"""``--memory-format channels_last``: the search runs a channels_last copy of the generator, every recorded number is
the contiguous fp32 forward's at the recorded seeds (bit for bit), the choice is part of the build identity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from contracts.bundle import read_bundle
from reconstruction_pipeline.cli import main
from reconstruction_pipeline.distances import build_distance
from reconstruction_pipeline.generators import Generator, seeded_latents
from reconstruction_pipeline.memory_format import (MemoryFormatError, check_memory_format, resolve_memory_format,
                                                   search_generator, search_input)
from reconstruction_pipeline.reconstruct import reconstruct
from reconstruction_pipeline.targets import derive_seed


def _problem(g: Generator, targets: int = 4, attempts: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        x = g.synthesize(seeded_latents([derive_seed(5, "t", i) for i in range(targets)], g.latent_dim))
    z0 = seeded_latents([derive_seed(5, "i", i) for i in range(targets * attempts)], g.latent_dim)
    return x.repeat_interleave(attempts, dim=0), z0


def test_search_generator_is_a_channels_last_copy_and_leaves_the_callers_alone(tiny: list[Generator]) -> None:
    g = next(g for g in tiny if g.id == "tiny-deconv")
    assert search_generator(g, "contiguous") is g
    h = search_generator(g, "channels_last")
    four_d = [(name, p) for name, p in h.named_parameters() if p.ndim == 4]
    assert four_d and all(p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
                          for _, p in four_d)
    assert all(p.is_contiguous() for p in g.parameters())  # the caller's generator is untouched
    x = torch.zeros(2, 3, 8, 8)
    assert search_input(x, "contiguous") is x
    assert search_input(x, "channels_last").is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(MemoryFormatError, match="nhwc"):
        check_memory_format("nhwc")


def test_auto_is_channels_last_for_a_bf16_search_on_a_cpu() -> None:
    assert resolve_memory_format("auto", "bf16", "cpu") == "channels_last"
    assert resolve_memory_format("auto", "fp32", "cpu") == "contiguous"
    assert resolve_memory_format("auto", "bf16", "meta") == "contiguous"  # not measured off the CPU: the default
    for name in ("contiguous", "channels_last"):
        assert resolve_memory_format(name, "fp32", "cpu") == name == resolve_memory_format(name, "bf16", "cpu")
    with pytest.raises(MemoryFormatError, match="auto, contiguous, channels_last"):
        resolve_memory_format("nchw", "fp32", "cpu")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_channels_last_result_is_the_contiguous_fp32_forward_at_its_seeds(tiny: list[Generator],
                                                                          precision: str) -> None:
    dist = build_distance("pixel")
    for g in tiny:
        x, z0 = _problem(g)
        res = reconstruct(g, x, z0, steps=20, distance=dist, record_every=5, precision=precision,
                          memory_format="channels_last")
        with torch.no_grad():
            img = g.synthesize(res.final_seeds)
            d = (img - x).square().flatten(1).mean(dim=1)
            d0 = (g.synthesize(z0) - x).square().flatten(1).mean(dim=1)
        assert torch.equal(d, res.final_distance) and torch.equal(img, res.final_images), g.id
        assert res.final_images.is_contiguous()
        assert torch.equal(res.curve[:, 0], d0) and torch.equal(res.curve[:, -1], res.final_distance)
        assert bool((res.best_distance <= res.curve.amin(dim=1)).all())


def test_fp32_channels_last_search_differs_from_contiguous_only_by_rounding(tiny: list[Generator]) -> None:
    """channels_last picks other kernels, so an fp32 search's seeds differ in the last bits (measured ~6e-8 after 3
    steps); the distances stay within rounding of the contiguous search's."""
    g = next(g for g in tiny if g.id == "tiny-deconv")
    dist = build_distance("pixel")
    x, z0 = _problem(g)
    a = reconstruct(g, x, z0, steps=20, distance=dist)
    b = reconstruct(g, x, z0, steps=20, distance=dist, memory_format="channels_last")
    assert torch.allclose(a.final_distance, b.final_distance, rtol=0, atol=1e-4)
    assert torch.allclose(a.final_seeds, b.final_seeds, rtol=0, atol=1e-3)


BASE = ["build", "--zoo", "tiny", "--targets-per-generator", "4", "--attempts", "2", "--steps", "40", "--seed", "4",
        "--device", "cpu", "--no-progress", "--precision", "fp32"]


def test_channels_last_build_records_it_and_attributes_like_contiguous(tmp_path: Path, tiny: list[Generator],
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    paths = {m: tmp_path / m for m in ("contiguous", "channels_last")}
    for m, path in paths.items():
        assert main([*BASE, "--memory-format", m, "--out", str(path)]) == 0
    a, b = read_bundle(paths["contiguous"]), read_bundle(paths["channels_last"])
    assert a.algorithm_attribution() == b.algorithm_attribution()
    opts = {m: json.loads((p / "manifest.json").read_text())["build"]["options"] for m, p in paths.items()}
    assert "memory_format" not in opts["contiguous"]  # the default is left out: older builds still resume
    assert opts["channels_last"]["memory_format"] == "channels_last"
    # recorded distances: a plain contiguous fp32 forward at the recorded seeds (one shard per generator)
    gens = {g.id: g for g in tiny}
    targets = torch.from_numpy(np.load(paths["channels_last"] / "data" / "targets.npy"))
    data_row = {t.target_id: int(t.extra["data_row"]) for t in b.targets}
    for gid, g in gens.items():
        rows = sorted((r for r in b.reconstructions if r.generator == gid), key=lambda r: (data_row[r.target_id],
                                                                                          r.attempt))
        seeds = torch.from_numpy(np.load(paths["channels_last"] / "data" / f"final_seeds_{gid}.npy"))
        z = seeds[[int(r.extra["seed_row"]) for r in rows]]
        x = targets[[data_row[r.target_id] for r in rows]]
        with torch.no_grad():
            d = (g.synthesize(z) - x).square().flatten(1).mean(dim=1)
        assert [float(v) for v in d] == [r.distance for r in rows], gid
    # resuming with the other layout is refused (it would find other seeds), one line
    before = (paths["channels_last"] / "reconstructions.csv").read_bytes()
    capsys.readouterr()
    assert main([*BASE, "--memory-format", "contiguous", "--out", str(paths["channels_last"])]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "memory_format" in err
    assert (paths["channels_last"] / "reconstructions.csv").read_bytes() == before


def test_bad_memory_format_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["build", "--zoo", "tiny", "--out", str(tmp_path / "b"), "--memory-format", "nhwc"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--memory-format" in err and "nhwc" in err
    assert not (tmp_path / "b").exists()


def test_attribute_images_in_channels_last_decides_like_contiguous(tiny: list[Generator]) -> None:
    from reconstruction_pipeline.attribution import attribute_images

    with torch.no_grad():
        images = torch.cat([g.synthesize(seeded_latents([derive_seed(6, g.id, i) for i in range(2)], g.latent_dim))
                            for g in tiny])
    names = [f"img{i}" for i in range(images.shape[0])]
    dist = build_distance("pixel")
    runs = {m: attribute_images(names, images, tiny, attempts=2, steps=30, distance=dist, seed=6, memory_format=m)
            for m in ("contiguous", "channels_last")}
    assert [r.attributed for r in runs["contiguous"]] == [r.attributed for r in runs["channels_last"]]
    for a, b in zip(runs["contiguous"], runs["channels_last"]):
        assert a.distances.keys() == b.distances.keys()
        assert all(abs(a.distances[k] - b.distances[k]) < 1e-3 for k in a.distances)


def test_auto_continues_an_earlier_build_the_way_it_was_started(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A build started with an explicit search (bf16, contiguous: e.g. before ``auto`` chose channels_last, or on
    another machine) and re-run with the defaults resumes it instead of refusing a configuration ``auto`` would
    resolve differently here (fp32 for the tiny zoo)."""
    out = tmp_path / "b"
    base = [*BASE[:-2], "--out", str(out)]          # BASE without its explicit --precision fp32
    assert main([*base, "--precision", "bf16", "--memory-format", "contiguous"]) == 0
    before = {p.name: p.read_bytes() for p in (out / "reconstructions.csv", out / "manifest.json")}
    capsys.readouterr()
    assert main(base) == 0
    assert "bf16 contiguous search (auto: as the build in --out was started)" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in (out / "reconstructions.csv", out / "manifest.json")} == before
    # an explicit choice still has to match: fp32 on this bf16 build is refused, one line
    assert main([*base, "--precision", "fp32"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "options.precision" in err
