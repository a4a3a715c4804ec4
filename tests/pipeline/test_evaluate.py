"""``evaluate``: accuracy, confusion matrix (rows = true generator), accuracy vs attempts, on hand-computed bundles."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from PIL import Image

from contracts.bundle import (GeneratorInfo, Manifest, Reconstruction, ReconstructionConfig, Target, content_name,
                              read_bundle, write_bundle)
from reconstruction_pipeline.cli import main
from reconstruction_pipeline.evaluate import evaluate_bundle

GENS = ("gx", "gy")


def _png(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (i % 256, i // 256, 7)).save(buf, format="PNG")
    return buf.getvalue()


def _bundle(root: Path) -> Path:
    """4 targets, 2 generators, 2 attempts. Distances (target: {gen: [attempt0, attempt1]}):

    tA (gx): gx [0.1, 0.9], gy [0.5, 0.5] -> gx with 1 or 2 attempts        (right, right)
    tB (gx): gx [0.9, 0.2], gy [0.5, 0.5] -> gy with 1 attempt, gx with 2    (wrong, right)
    tC (gy): gx [0.3, 0.3], gy [0.1, 0.1] -> gy                              (right, right)
    tD (gy): gx [0.1, 0.1], gy [0.8, 0.2] -> gx                              (wrong, wrong)
    -> accuracy 3/4; by attempts 2/4 then 3/4; confusion [[2, 0], [1, 1]].
    """
    table = {"tA": ("gx", {"gx": [0.1, 0.9], "gy": [0.5, 0.5]}), "tB": ("gx", {"gx": [0.9, 0.2], "gy": [0.5, 0.5]}),
             "tC": ("gy", {"gx": [0.3, 0.3], "gy": [0.1, 0.1]}), "tD": ("gy", {"gx": [0.1, 0.1], "gy": [0.8, 0.2]})}
    (root / "images").mkdir(parents=True)
    n = 0

    def image() -> str:
        nonlocal n
        data = _png(n)
        n += 1
        (root / "images" / content_name(data)).write_bytes(data)
        return f"images/{content_name(data)}"

    targets, recs = [], []
    for tid, (true, dists) in table.items():
        targets.append(Target(tid, true, image()))
        for g, ds in dists.items():
            recs += [Reconstruction(tid, g, a, d, image()) for a, d in enumerate(ds)]
    manifest = Manifest(tuple(GeneratorInfo(g, g, "test", 4, 2) for g in GENS),
                        ReconstructionConfig(10, 0.1, 2, "pixel", 0), "test")
    write_bundle(root, manifest, targets, recs)
    return root


def test_hand_computed_figures(tmp_path: Path) -> None:
    ev = evaluate_bundle(read_bundle(_bundle(tmp_path / "b")))
    assert ev.accuracy == 0.75
    assert ev.confusion == [[2, 0], [1, 1]]
    assert ev.per_generator == {"gx": 1.0, "gy": 0.5}
    assert ev.accuracy_by_attempts == [(1, 0.5), (2, 0.75)]
    assert ev.accuracy_by_steps == []  # no loss curves in a hand-made bundle


def test_cli_prints_and_writes_csv_and_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _bundle(tmp_path / "b")
    out = tmp_path / "eval"
    assert main(["evaluate", str(root), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "attribution accuracy: 75.00%" in text and "k=1: 50.00%" in text and "k=2: 75.00%" in text
    with (out / "confusion_matrix.csv").open() as f:
        assert list(csv.reader(f)) == [["true_generator", "gx", "gy"], ["gx", "2", "0"], ["gy", "1", "1"]]
    with (out / "accuracy_vs_attempts.csv").open() as f:
        assert list(csv.reader(f)) == [["attempts", "accuracy"], ["1", "0.5"], ["2", "0.75"]]
    with (out / "accuracy.csv").open() as f:
        assert list(csv.reader(f))[-1] == ["all", "4", "0.75"]
    for png in ("confusion_matrix.png", "accuracy_vs_attempts.png"):
        with Image.open(out / png) as im:
            assert im.format == "PNG" and im.size[0] > 100


def test_built_bundle_has_accuracy_vs_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "b"
    assert main(["build", "--zoo", "tiny", "--targets-per-generator", "2", "--attempts", "2", "--steps", "10",
                 "--record-every", "5", "--out", str(out), "--no-progress"]) == 0
    assert main(["evaluate", str(out)]) == 0
    with (out / "evaluation" / "accuracy_vs_steps.csv").open() as f:
        rows = list(csv.reader(f))
    assert [r[0] for r in rows] == ["steps", "0", "5", "10"]
    ev = evaluate_bundle(read_bundle(out))
    assert ev.accuracy_by_steps[-1][1] == ev.accuracy  # the last recorded step is the final distance
    assert (out / "evaluation" / "accuracy_vs_steps.png").is_file()
