"""A build's identity includes the generators' weights: retrain a generator (or swap a plugin checkpoint) and a
re-run into the same bundle is refused instead of silently mixing shards made with old and new weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reconstruction_pipeline.cli import main
from reconstruction_pipeline.generators import weights_fingerprint
from reconstruction_pipeline.zoo.nets import TinyDeconv


def test_fingerprint_follows_the_weights() -> None:
    torch.manual_seed(0)
    a = TinyDeconv(latent_dim=8, channels=32)
    b = TinyDeconv(latent_dim=8, channels=32)
    b.load_state_dict(a.state_dict())
    assert weights_fingerprint(a) == weights_fingerprint(b)
    with torch.no_grad():
        next(b.parameters()).view(-1)[0] += 1e-6
    assert weights_fingerprint(a) != weights_fingerprint(b)


def test_rebuild_with_changed_weights_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(1)
    ckpt = tmp_path / "plug.pt"
    torch.save(TinyDeconv(latent_dim=8, channels=32).state_dict(), ckpt)
    args = ["build", "--zoo", "tiny", "--generator", f"plug=tests.pipeline.weights_plugin:from_checkpoint:{ckpt}",
            "--targets-per-generator", "1", "--attempts", "1", "--steps", "2", "--device", "cpu", "--no-progress",
            "--out", str(tmp_path / "bundle")]
    assert main(args) == 0
    assert main(args) == 0  # same weights: the finished bundle is accepted as it is
    manifest = (tmp_path / "bundle" / "manifest.json").read_bytes()

    retrained = TinyDeconv(latent_dim=8, channels=32)
    retrained.load_state_dict(torch.load(ckpt, weights_only=True))
    with torch.no_grad():
        next(retrained.parameters()).view(-1)[0] += 0.5
    torch.save(retrained.state_dict(), ckpt)
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "different configuration" in err
    assert (tmp_path / "bundle" / "manifest.json").read_bytes() == manifest
