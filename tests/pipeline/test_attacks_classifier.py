"""The DCT classifier of the transfer attack (Fig. 9) and torchattacks against it, on the real tiny zoo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.fft
import torch

from reconstruction_pipeline.attacks import AttackBatch, AttackContext, AttackError, apply_attack, parse_attack
from reconstruction_pipeline.attacks.budget import l2, linf
from reconstruction_pipeline.attacks.classifier import (DCTClassifier, accuracy, dct2, dct_matrix, load_classifier,
                                                        save_classifier, train_classifier, weights_file)
from reconstruction_pipeline.distances import build_distance
from reconstruction_pipeline.generators import Generator, seeded_latents
from reconstruction_pipeline.targets import derive_seed


def test_dct_as_a_matrix_product_is_scipys_orthonormal_dct() -> None:
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ours = dct2(x, dct_matrix(8)).numpy()
    ref = scipy.fft.dctn(x.numpy(), type=2, norm="ortho", axes=(-2, -1))
    assert np.allclose(ours, ref, atol=1e-12)
    d = dct_matrix(64)
    assert torch.allclose(d @ d.T, torch.eye(64, dtype=torch.float64), atol=1e-12)


def _fresh(tiny: list[Generator], n: int) -> tuple[torch.Tensor, torch.Tensor, AttackBatch]:
    xs, ys, keys, gens, lat = [], [], [], [], []
    with torch.no_grad():
        for label, g in enumerate(tiny):
            seeds = [derive_seed(99, "test-clf", g.id, i) for i in range(n)]
            z = seeded_latents(seeds, g.latent_dim)
            xs.append(g.synthesize(z).clamp(-1, 1))
            ys += [label] * n
            keys += [f"{g.id}-{i}" for i in range(n)]
            gens += [g.id] * n
            lat += list(z)
    x = torch.cat(xs)
    return x, torch.tensor(ys), AttackBatch(x, tuple(keys), tuple(gens), tuple(lat))


def test_committed_classifier_loads_and_the_attacks_lower_its_accuracy(tiny: list[Generator]) -> None:
    model, card = load_classifier(weights_file("tiny"))
    assert list(model.classes) == [g.id for g in tiny] and card["clean_accuracy"] > 0.6
    x, y, batch = _fresh(tiny, 20)
    clean = accuracy(model, x, y)
    assert clean > 0.6
    ctx = AttackContext(tiny, build_distance("pixel"), torch.device("cpu"), classifier=model)
    for spec, budget in [("clf-fgsm:eps=0.1", "eps"), ("clf-pgd:eps=0.1", "eps"), ("clf-pgdl2:l2=1", "l2"),
                         ("clf-cw:c=10", None)]:
        out = apply_attack(ctx, batch, parse_attack(spec), seed=0)
        adv_acc = accuracy(model, out.images, y)
        assert adv_acc < clean - 0.3, (spec, clean, adv_acc)
        if budget == "eps":
            assert float(linf(x, out.images).max()) <= 0.1
        elif budget == "l2":
            assert float(l2(x, out.images).max()) <= 1.0


def test_training_is_seeded_and_saved_weights_round_trip(tiny: list[Generator], tmp_path: Path) -> None:
    a, card = train_classifier(tiny, zoo="tiny", steps=3, batch_per_generator=4, test_per_generator=4, seed=5)
    b, _ = train_classifier(tiny, zoo="tiny", steps=3, batch_per_generator=4, test_per_generator=4, seed=5)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    path = tmp_path / "c.pt"
    path.write_bytes(save_classifier(a, card))
    c, card2 = load_classifier(path)
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    assert isinstance(c, DCTClassifier) and torch.equal(c(x), a(x)) and card2["steps"] == 3
    (tmp_path / "bad.pt").write_bytes(b"not torch")
    with pytest.raises(AttackError, match="not a classifier weights file"):
        load_classifier(tmp_path / "bad.pt")
    with pytest.raises(AttackError, match="train-classifier"):
        load_classifier(tmp_path / "missing.pt")


def test_classifier_attack_without_a_classifier_is_one_line(tiny: list[Generator]) -> None:
    _, _, batch = _fresh(tiny, 1)
    ctx = AttackContext(tiny, build_distance("pixel"), torch.device("cpu"))
    with pytest.raises(AttackError, match="needs the transfer classifier"):
        apply_attack(ctx, batch, parse_attack("clf-fgsm:eps=0.1"), seed=0)
