"""``attack run --precision``: the attribution's seed searches follow it, the attacks themselves stay fp32. On the tiny
zoo a bf16 and an fp32 run make the same attacked images and the same attribution decisions; the resolved precision
is recorded in run.json and a resume in another precision is refused (``auto`` continues the run as started)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from reconstruction_pipeline.__main__ import main

# 2 targets per generator x 3 generators; clean + one image-space attack + evasion (the attacker's reconstructions)
BASE = ["attack", "run", "--zoo", "tiny", "--targets-per-generator", "2", "--attack", "fgsm-image:eps=0.03",
        "evade:l2=1", "--attempts", "2", "--steps", "40", "--attacker-attempts", "1", "--attacker-steps", "10",
        "--seed", "3", "--device", "cpu"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("attack-precision")
    out = {p: root / p for p in ("fp32", "bf16")}
    for p, path in out.items():
        assert main([*BASE, "--precision", p, "--out", str(path)]) == 0
    return out


def _rows(run: Path) -> list[dict[str, str]]:
    with (run / "attacks.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_bf16_and_fp32_attack_runs_attribute_alike(runs: dict[str, Path]) -> None:
    a, b = _rows(runs["fp32"]), _rows(runs["bf16"])
    assert len(a) == len(b) == 3 * 6
    # the attack is fp32 in both runs: the same attacked images (to the bit: the same budgets measured) ...
    key = ("attack", "target", "true_generator", "linf", "l2", "ssim")
    assert [[r[k] for k in key] for r in a] == [[r[k] for k in key] for r in b]
    # ... and the attribution, bf16 or fp32, names the same generator for every one of them
    assert [r["attributed"] for r in a] == [r["attributed"] for r in b]


def test_the_resolved_precision_is_recorded(runs: dict[str, Path]) -> None:
    fp32 = json.loads((runs["fp32"] / "run.json").read_text())["run"]
    bf16 = json.loads((runs["bf16"] / "run.json").read_text())["run"]
    assert (fp32["precision"], fp32["memory_format"]) == ("fp32", "contiguous")
    assert (bf16["precision"], bf16["memory_format"]) == ("bf16", "channels_last")  # auto layout for a CPU bf16


def test_resume_with_another_precision_is_refused(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    before = (runs["bf16"] / "attacks.csv").read_bytes()
    assert main([*BASE, "--precision", "fp32", "--memory-format", "channels_last", "--out", str(runs["bf16"])]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "precision: 'bf16' there, 'fp32' now" in err
    assert (runs["bf16"] / "attacks.csv").read_bytes() == before
    # auto (the default) continues the run the way it was started: bf16, every spec done before
    assert main([*BASE, "--out", str(runs["bf16"])]) == 0
    out = capsys.readouterr().out
    assert "attribution searches in bf16 (channels_last)" in out and out.count("(done before)") == 3
    assert json.loads((runs["bf16"] / "run.json").read_text())["run"]["precision"] == "bf16"


def test_a_run_recorded_before_precision_existed_resumes_as_fp32(runs: dict[str, Path], tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old"
    (old / "rows").mkdir(parents=True)
    for f in (runs["fp32"] / "rows").iterdir():
        (old / "rows" / f.name).write_bytes(f.read_bytes())
    identity = json.loads((runs["fp32"] / "run.json").read_text())
    for k in ("precision", "memory_format"):
        del identity["run"][k]
    (old / "run.json").write_text(json.dumps(identity))
    assert main([*BASE, "--precision", "bf16", "--memory-format", "contiguous", "--out", str(old)]) == 1
    assert "precision: 'fp32' there, 'bf16' now" in capsys.readouterr().err
    assert main([*BASE, "--out", str(old)]) == 0  # auto: fp32 on the tiny zoo, as the run was
    assert capsys.readouterr().out.count("(done before)") == 3


def test_bad_precision_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main([*BASE, "--precision", "fp16", "--out", str(tmp_path / "r")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--precision" in err and "fp16" in err
    assert not (tmp_path / "r").exists()
