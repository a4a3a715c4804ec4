"""The ``siblings`` zoo: delta loader, resumable fine-tuning, and the fingerprint its members carry."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from reconstruction_pipeline.generators import seeded_latents
from reconstruction_pipeline.zoo import ZooError, load_zoo, zoo_specs
from reconstruction_pipeline.zoo import dcgan
from reconstruction_pipeline.zoo.checkpoint import torch_save_atomic
from reconstruction_pipeline.zoo.recipes import SIBLING_KEYS, SIBLINGS
from reconstruction_pipeline.zoo.registry import weights_file
from reconstruction_pipeline.zoo.siblings import (layer_keys, load_sibling, read_delta, state_sha256,
                                                  train_sibling)

HELD_OUT = range(50_000_000, 50_000_006)


def test_zoo_order_and_specs_without_loading() -> None:
    specs = zoo_specs("siblings")
    assert [s.id for s in specs] == ["sibling-a", "sibling-b", "sibling-c", "sibling-offender"]
    assert all((s.resolution, s.latent_dim) == (64, 100) for s in specs)
    assert SIBLING_KEYS == {"sibling-a": "key-a", "sibling-b": "key-b", "sibling-c": "key-c"}


def test_delta_applies_over_the_parent() -> None:
    parent = dcgan.load_dcgan()
    gens = load_zoo("siblings")
    z = seeded_latents(HELD_OUT, 100)
    x_parent = parent.synthesize(z)
    p_state = parent.net.state_dict()
    for g in gens:
        delta = read_delta(weights_file(g.id), what=g.id)
        changed = set(delta["tensors"])
        assert changed == set(layer_keys(g.net, SIBLINGS[g.id].layers))  # type: ignore[arg-type]
        for k, v in g.net.state_dict().items():
            want = delta["tensors"][k] if k in changed else p_state[k]
            assert torch.equal(v, want), (g.id, k)
        x = g.synthesize(z)
        mse = float((x - x_parent).pow(2).mean())
        assert 0.0 < mse < 0.01, (g.id, mse)  # a look-alike: the parent's faces, not the parent itself
    # different siblings make different images from the same seeds
    outs = [g.synthesize(z) for g in gens]
    for i in range(len(outs)):
        for j in range(i + 1, len(outs)):
            assert not torch.allclose(outs[i], outs[j], atol=1e-4)


def _one_line(e: pytest.ExceptionInfo[ZooError]) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_missing_wrong_or_damaged_delta_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ZooError) as e:
        load_sibling("sibling-a", path=tmp_path / "absent.pt")
    assert "sibling-a" in _one_line(e) and "missing" in str(e.value) and "zoo train sibling-a" in str(e.value)
    with pytest.raises(ZooError) as e:
        load_sibling("sibling-a", path=weights_file("tiny-mlp"))  # a zoo generator, not a delta
    assert "not a sibling delta" in _one_line(e)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(ZooError) as e:
        load_sibling("sibling-a", path=garbage)
    assert "cannot read" in _one_line(e)
    with pytest.raises(ZooError) as e:
        load_sibling("sibling-a", path=weights_file("sibling-b"))
    assert "holds sibling 'sibling-b'" in _one_line(e)
    with pytest.raises(ZooError) as e:
        load_sibling("sibling-z")
    assert "unknown sibling" in _one_line(e)

    good = read_delta(weights_file("sibling-a"), what="sibling-a")
    key = next(iter(good["tensors"]))

    def variant(name: str, **change: object) -> Path:
        d = {**good, "tensors": dict(good["tensors"]), **change}
        torch_save_atomic(d, tmp_path / name)
        return tmp_path / name

    edited = dict(good["tensors"])
    edited[key] = edited[key] + 1e-3
    cases = {
        "edited tensors, old hash": (variant("edit.pt", tensors=edited), "recorded sha256"),
        "wrong shape": (variant("shape.pt", tensors={**good["tensors"], key: torch.zeros(2, 2)},
                                tensors_sha256=state_sha256({**good["tensors"], key: torch.zeros(2, 2)})),
                        "has shape (2, 2)"),
        "foreign key": (variant("key.pt", tensors={"fc.weight": torch.zeros(1)}), "not a parameter"),
        "other parent": (variant("parent.pt", parent_sha256="0" * 64), "installed digiface-dcgan"),
        "wrong test output": (variant("check.pt", check=good["check"] + 0.1), "test output differs"),
        "newer version": (variant("version.pt", version=2), "delta version 2"),
    }
    for what, (path, words) in cases.items():
        with pytest.raises(ZooError) as e:
            load_sibling("sibling-a", path=path)
        assert words in _one_line(e), (what, str(e.value))
    # the consistent edit (tensors and their hash) passes every check but the recorded test output
    with pytest.raises(ZooError, match="test output differs"):
        load_sibling("sibling-a", path=variant("both.pt", tensors=edited, tensors_sha256=state_sha256(edited)))
    # the parent package missing
    monkeypatch.setattr(dcgan, "PACKAGE", "gan_face_generate_not_installed")
    with pytest.raises(ZooError) as e:
        load_sibling("sibling-a")
    assert "is not installed" in _one_line(e)


def test_training_resumes_to_the_same_weights(tmp_path: Path) -> None:
    tiny = dataclasses.replace(SIBLINGS["sibling-b"], layers=(12,), batch_size=2, ckpt_every=2, grid_every=3)
    few = tuple(HELD_OUT)
    straight = train_sibling(tiny, out_dir=tmp_path / "a", steps=4, progress=False, eval_seeds=few)
    assert (straight.step, straight.stopped) == (4, "steps")
    first = train_sibling(tiny, out_dir=tmp_path / "b", steps=2, progress=False, eval_seeds=few)
    assert first.step == 2
    resumed = train_sibling(tiny, out_dir=tmp_path / "b", steps=4, progress=False, eval_seeds=few)
    assert resumed.step == 4
    a = read_delta(straight.weights, what="a")["tensors"]
    b = read_delta(resumed.weights, what="b")["tensors"]
    assert list(a) == ["main.12.weight"] and all(torch.equal(a[k], b[k]) for k in a)
    parent = dcgan.load_dcgan().net.state_dict()["main.12.weight"]
    assert not torch.equal(a["main.12.weight"], parent)  # it did train
    assert (tmp_path / "a" / "samples" / "step_000003.png").is_file()
    assert sorted(read_delta(straight.weights, what="a")["train"]["fingerprint"]["bit_accuracy"]) == [
        "key-a", "key-b", "key-c", "key-d"]
    other = dataclasses.replace(tiny, lr=tiny.lr * 2)
    with pytest.raises(ZooError, match="another sibling or configuration"):
        train_sibling(other, out_dir=tmp_path / "b", steps=5, progress=False, eval_seeds=few)
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_zoo_train_command_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from reconstruction_pipeline.zoo.cli import main

    argv = ["train", "sibling-offender", "--out", str(tmp_path), "--no-progress", "--threads", "1"]
    assert main([*argv, "--steps", "1"]) == 0
    assert main([*argv, "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "sibling-offender: 1 steps" in out and "sibling-offender: 2 steps" in out and "bit accuracy" in out
    ck = torch.load(tmp_path / "sibling-offender" / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 2 and ck["identity"]["init"] == "sibling-a"
    assert main(["train", "sibling-q", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot train 'sibling-q'" in err


def test_fingerprint_attribution_on_a_siblings_sample_picks_its_key() -> None:
    from reconstruction_pipeline.fingerprints.attribution import attribute_bits
    from reconstruction_pipeline.fingerprints.keys import registered_keys
    from reconstruction_pipeline.fingerprints.store import load_codec

    codec = load_codec()
    keys = registered_keys(codec.cfg.bits)
    z = seeded_latents(HELD_OUT, 100)
    for gen_id, key in SIBLING_KEYS.items():
        x = load_sibling(gen_id).synthesize(z)
        answers = [attribute_bits(bits, keys).attributed for bits in codec.decode(x).int().tolist()]
        assert answers.count(key) >= len(answers) - 1, (gen_id, answers)
    # the parent's own faces carry no key
    x = dcgan.load_dcgan().synthesize(z)
    answers = [attribute_bits(bits, keys).attributed for bits in codec.decode(x).int().tolist()]
    assert answers.count(None) >= len(answers) - 1, answers
