from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reconstruction_pipeline.zoo import ZooError, dcgan
from reconstruction_pipeline.zoo.checkpoint import load_weights
from reconstruction_pipeline.zoo.registry import weights_file


def _copy(tmp_path: Path, gen_id: str = "tiny-mlp") -> dict:
    ckpt = torch.load(weights_file(gen_id), weights_only=True)
    assert ckpt["format"] == "zoo-generator"
    return ckpt


def _err(path: Path, **kw: object) -> str:
    with pytest.raises(ZooError) as e:
        load_weights(path, **kw)  # type: ignore[arg-type]
    assert "\n" not in str(e.value)
    return str(e.value)


def test_round_trip(tmp_path: Path) -> None:
    ckpt = _copy(tmp_path)
    torch.save(ckpt, tmp_path / "ok.pt")
    g = load_weights(tmp_path / "ok.pt")
    assert g.id == "tiny-mlp" and g.spec.source == str(tmp_path / "ok.pt")


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    assert "does not exist" in _err(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00junk")
    assert "cannot read checkpoint" in _err(tmp_path / "junk.pt")


def test_not_a_zoo_checkpoint(tmp_path: Path) -> None:
    torch.save({"netG_state_dict": {}}, tmp_path / "other.pt")
    assert "not a zoo generator checkpoint" in _err(tmp_path / "other.pt")
    ckpt = _copy(tmp_path)
    ckpt["version"] = 99
    torch.save(ckpt, tmp_path / "v.pt")
    assert "checkpoint version 99" in _err(tmp_path / "v.pt")


def test_state_dict_keys_and_shapes_are_checked(tmp_path: Path) -> None:
    ckpt = _copy(tmp_path)
    del ckpt["state_dict"]["net.0.weight"]
    torch.save(ckpt, tmp_path / "k.pt")
    assert "missing ['net.0.weight']" in _err(tmp_path / "k.pt")
    ckpt = _copy(tmp_path)
    ckpt["state_dict"]["net.0.weight"] = torch.zeros(3, 3)
    torch.save(ckpt, tmp_path / "s.pt")
    assert "'net.0.weight' has shape (3, 3)" in _err(tmp_path / "s.pt")
    ckpt = _copy(tmp_path)
    ckpt["arch"] = "no-such-arch"
    torch.save(ckpt, tmp_path / "a.pt")
    assert "unknown architecture" in _err(tmp_path / "a.pt")


def test_nan_weights_fail_the_output_check(tmp_path: Path) -> None:
    ckpt = _copy(tmp_path)
    ckpt["state_dict"]["net.4.bias"] = torch.full_like(ckpt["state_dict"]["net.4.bias"], float("nan"))
    torch.save(ckpt, tmp_path / "nan.pt")
    assert "NaN" in _err(tmp_path / "nan.pt")


def test_wrong_generator_in_file(tmp_path: Path) -> None:
    torch.save(_copy(tmp_path), tmp_path / "w.pt")
    assert "holds generator 'tiny-mlp', not 'tiny-cppn'" in _err(tmp_path / "w.pt", expect_id="tiny-cppn")


def test_dcgan_package_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dcgan, "PACKAGE", "gan_face_generate_not_installed")
    with pytest.raises(ZooError, match="package 'gan_face_generate_not_installed' is not installed; run .*--no-deps"):
        dcgan.load_dcgan()


def test_dcgan_weights_located_in_package() -> None:
    p = dcgan.weights_path()
    assert p.name == "weights.tar" and p.parent.name == "gan_face_generate" and p.is_file()
