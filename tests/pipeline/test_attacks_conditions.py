"""Attacks as condition kinds ``attack`` in the pipeline's one condition registry, and build --conditions with them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from contracts.conditions import ATTACK_KINDS, PERTURBATION_KINDS, builtin_category
from reconstruction_pipeline.attacks import ATTACKS
from reconstruction_pipeline.cli import main
from reconstruction_pipeline.conditions import ConditionError, kinds, parse_condition_list, resolve


def test_every_attack_is_a_registered_condition_of_kind_attack() -> None:
    registered = kinds()
    for name in ATTACKS:
        assert registered[name].category == "attack"
    rcs = parse_condition_list("clean,fgsm-image:eps=0.030,frame:target=face-resnet,l2=4.0,cw-image:l2=2,steps=50")
    assert [rc.name for rc in rcs] == ["clean", "fgsm-image:eps=0.03", "frame:l2=4,target=face-resnet",
                                       "cw-image:l2=2,steps=50"]
    assert rcs[2].condition.kind == "attack" and rcs[2].condition.params == {"l2": 4, "target": "face-resnet"}
    for bad, words in [("fgsm-image:eps=0", "> 0"), ("frame:l2=4", "target"), ("evade:l2=1,eps=0.1", "one budget"),
                       ("fgsm-image:q=3", "no parameter")]:
        with pytest.raises(ConditionError, match=words):
            resolve(bad)


def test_contracts_copy_of_the_categories_is_the_registry() -> None:
    """contracts.conditions names the built-in kinds' categories for code without torch (harness.make_bundle, the
    analysis's simulator); it must be the registry's, kind for kind."""
    registered = kinds()
    assert sorted(ATTACK_KINDS) == sorted(n for n, k in registered.items() if k.category == "attack")
    assert sorted(PERTURBATION_KINDS) == sorted(n for n, k in registered.items() if k.category == "perturbation")
    for spec in ("clean", "jpeg:q=50", "mirror", "evade:l2=1", "frame:l2=4,target=face-resnet", "cw-image:c=1"):
        assert builtin_category(spec) == (resolve(spec).condition.kind if spec != "clean" else "clean"), spec


def test_build_with_attack_conditions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "b"
    assert main(["build", "--zoo", "tiny", "--targets-per-generator", "1", "--attempts", "1", "--steps", "3",
                 "--conditions", "clean,fgsm-image:eps=0.03,fgsm-seed:eps=0.5", "--out", str(out),
                 "--no-progress"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema_version"] == 2
    assert [c["name"] for c in manifest["conditions"]] == ["clean", "fgsm-image:eps=0.03", "fgsm-seed:eps=0.5"]
    assert [c["kind"] for c in manifest["conditions"]] == ["clean", "attack", "attack"]
    import csv
    rows = list(csv.DictReader((out / "targets.csv").open()))
    data = np.load(out / "data" / "targets.npy")
    by = {(r["source_target"], r["condition"]): data[int(r["data_row"])] for r in rows}
    for src in {r["source_target"] for r in rows}:
        clean, fgsm = by[(src, "clean")].astype(np.float64), by[(src, "fgsm-image:eps=0.03")].astype(np.float64)
        assert 0 < np.abs(fgsm - clean).max() / 2 <= 0.03  # the attacked target, within its budget ([0,1] units)
        assert np.abs(by[(src, "fgsm-seed:eps=0.5")] - clean).max() > 0


def test_build_refuses_a_framing_target_outside_the_zoo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["build", "--zoo", "tiny", "--conditions", "clean,frame:target=face-resnet,l2=4",
                 "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "not a generator of this zoo" in err
    assert not (tmp_path / "b").exists()
