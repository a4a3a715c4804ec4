from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reconstruction_pipeline.zoo.checkpoint import load_weights
from reconstruction_pipeline.zoo.data import digits_sampler
from reconstruction_pipeline.zoo.recipes import RECIPES
from reconstruction_pipeline.zoo.train import train

ROOT = Path(__file__).resolve().parents[2]


def test_one_step_smoke_run(tmp_path: Path) -> None:
    res = train(RECIPES["tiny-deconv"], out_dir=tmp_path, steps=1, progress=False)
    assert (res.step, res.stopped) == (1, "steps")
    assert (tmp_path / "checkpoint.pt").is_file()
    assert (tmp_path / "samples" / "latest.png").is_file() and (tmp_path / "samples" / "step_000001.png").is_file()
    g = load_weights(res.weights)
    assert g.id == "tiny-deconv"
    x = g.synthesize(torch.randn(2, 16))
    assert x.shape == (2, 3, 8, 8)
    meta = torch.load(res.weights, weights_only=True)["train"]
    assert meta["steps"] == 1 and meta["data"] == "digits"
    # nothing half-written left behind
    assert not [p for p in tmp_path.rglob("*.tmp")]


class Interrupt(Exception):
    pass


def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    recipe = dataclasses.replace(RECIPES["tiny-mlp"], ckpt_every=2, grid_every=3)
    straight = train(recipe, out_dir=tmp_path / "a", steps=6, progress=False)
    grids = sorted(p.name for p in (tmp_path / "a" / "samples").iterdir())
    assert grids == ["latest.png", "step_000003.png", "step_000006.png"]

    data = digits_sampler(torch.device("cpu"))
    calls = {"n": 0}

    def dies_at_step_5(n: int) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 5:
            raise Interrupt("killed")
        return data(n)

    with pytest.raises(Interrupt):
        train(recipe, out_dir=tmp_path / "b", steps=6, progress=False, sampler=dies_at_step_5)
    ck = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 4  # last checkpoint before the interruption
    resumed = train(recipe, out_dir=tmp_path / "b", steps=6, progress=False)
    assert resumed.step == 6
    a = torch.load(straight.weights, weights_only=True)["state_dict"]
    b = torch.load(resumed.weights, weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    # a finished run re-run does nothing more
    again = train(recipe, out_dir=tmp_path / "b", steps=6, progress=False)
    assert again.step == 6


def test_resume_refuses_another_generators_checkpoint(tmp_path: Path) -> None:
    from reconstruction_pipeline.zoo import ZooError

    train(RECIPES["tiny-mlp"], out_dir=tmp_path, steps=1, progress=False)
    with pytest.raises(ZooError, match="belongs to another generator"):
        train(RECIPES["tiny-cppn"], out_dir=tmp_path, steps=1, progress=False)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "reconstruction_pipeline", "zoo", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=400)


def test_cli_list() -> None:
    r = _cli("list")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "zoo faces:" in out and "zoo tiny:" in out
    for gen_id in ("digiface-dcgan", "face-style", "face-resnet", "tiny-mlp", "tiny-deconv", "tiny-cppn"):
        assert gen_id in out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("digiface-dcgan"))
    assert "3,576,704" in line and " 64 " in line and " 100 " in line and "gan_face_generate" in line


def test_cli_train_one_step_on_the_tiny_zoo_and_resume(tmp_path: Path) -> None:
    r = _cli("train", "tiny", "--steps", "1", "--out", str(tmp_path), "--device", "cpu", "--threads", "1",
             "--no-progress")
    assert r.returncode == 0, r.stderr
    for gen_id in ("tiny-mlp", "tiny-deconv", "tiny-cppn"):
        assert (tmp_path / gen_id / f"{gen_id}.pt").is_file()
        assert f"{gen_id}: 1 steps" in r.stdout
    r = _cli("train", "tiny-cppn", "--steps", "2", "--out", str(tmp_path), "--device", "cpu", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "tiny-cppn: 2 steps" in r.stdout
    assert torch.load(tmp_path / "tiny-cppn" / "checkpoint.pt", weights_only=True)["step"] == 2


@pytest.mark.parametrize("args, match", [
    (["train", "no-such-gen"], "error: cannot train 'no-such-gen'; trainable generators:"),
    (["train", "digiface-dcgan"], "error: cannot train 'digiface-dcgan'"),
    (["train", "tiny-mlp", "--device", "tpu"], "error: unknown device 'tpu'"),
])
def test_cli_errors_are_one_line(args: list[str], match: str) -> None:
    r = _cli(*args)
    assert r.returncode == 2
    assert r.stderr.strip().startswith(match), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
