"""Schema version 2 (docs/contracts.md addendum): canonical condition names, manifest ``conditions``, targets.csv
``condition`` and ``source_target``, their validation, and version 1 bundles read as all-clean."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from contracts.bundle import (MANIFEST_FILE, TARGETS_FILE, GeneratorInfo, Manifest, Reconstruction,
                              ReconstructionConfig, Target, read_bundle)
from contracts.conditions import (CLEAN_CONDITION, Condition, ConditionSpecError, canonical_condition,
                                  format_condition, format_number, parse_condition)
from contracts.errors import ContractError
from contracts.synthetic import PLACEHOLDER_IMAGE, write_synthetic_bundle

GENS = ("alpha", "beta")


# ------------------------------------------------------------------------------------------ canonical names

@pytest.mark.parametrize(("typed", "canonical"), [
    ("clean", "clean"), ("mirror", "mirror"), (" mirror ", "mirror"),
    ("jpeg:q=50", "jpeg:q=50"), ("jpeg: q = 50.0", "jpeg:q=50"), ("jpeg:q=5e1", "jpeg:q=50"),
    ("blur:k=5", "blur:k=5"), ("noise:var=0.01", "noise:var=0.01"), ("noise:var=.010", "noise:var=0.01"),
    ("noise:var=1e-2", "noise:var=0.01"), ("noise:var=0.00001", "noise:var=1e-5"),
    ("crop:min=0.90", "crop:min=0.9"), ("rotate:max=5.0", "rotate:max=5"), ("zoom:f=9e-1", "zoom:f=0.9"),
    ("pgd:target=dcgan,eps=0.03,alpha=1e-3", "pgd:alpha=0.001,eps=0.03,target=dcgan"),  # sorted keys
    ("fgsm-image:eps=0.03", "fgsm-image:eps=0.03"),
])
def test_canonical_names(typed: str, canonical: str) -> None:
    assert canonical_condition(typed) == canonical
    assert canonical_condition(canonical) == canonical  # idempotent


def test_parse_gives_typed_params() -> None:
    assert parse_condition("jpeg:q=50") == ("jpeg", {"q": 50})
    assert isinstance(parse_condition("jpeg:q=50.0")[1]["q"], int)
    assert parse_condition("noise:var=0.01") == ("noise", {"var": 0.01})
    assert parse_condition("mirror") == ("mirror", {})
    assert format_condition("crop", {"min": 0.9}) == "crop:min=0.9"
    assert format_condition("jpeg", {"q": 50.0}) == "jpeg:q=50"


def test_numbers_are_shortest_round_trip() -> None:
    """Independent check: every written number reads back to the same double, and no shorter decimal with the
    same value exists among the ones Python's repr could have chosen (%.{p}g for smaller p)."""
    values = [0.1, 0.2 + 0.1, 1 / 3, 2.5e-7, 1e-5, 0.0001, 123.456, 7e22, -0.5, 0.03, 1e-300]
    values += [struct.unpack("<d", struct.pack("<Q", 0x3FB999999999999A + k))[0] for k in range(-3, 4)]
    for v in values:
        text = format_number(v)
        assert float(text) == v
        sig = len(text.lstrip("-").replace(".", "").split("e")[0].lstrip("0"))
        assert all(float(f"%.{p}g" % v) != v for p in range(1, sig)), (v, text)
        assert "e+" not in text and "e-0" not in text
    assert format_number(5.0) == "5" and format_number(50) == "50" and format_number(1e16) == "1e16"


@pytest.mark.parametrize(("spec", "message"), [
    ("", "empty condition spec"),
    ("JPEG:q=50", "kind 'JPEG'"),
    ("jpeg:", "nothing after ':'"),
    ("jpeg:q", "must be key=value"),
    ("jpeg:q=", "must be key=value"),
    ("jpeg:q=1,q=2", "given twice"),
    ("jpeg:Q=1", "parameter name 'Q'"),
    ("jpeg:q=inf", "not a finite number"),
    ("jpeg:q=nan", "not a finite number"),
    ("jpeg:q=a b", "must be a number or a token"),
])
def test_bad_specs_one_line(spec: str, message: str) -> None:
    with pytest.raises(ConditionSpecError) as e:
        parse_condition(spec)
    assert message in str(e.value) and "\n" not in str(e.value)


# ------------------------------------------------------------------------------------------ bundles

CONDITIONS = (CLEAN_CONDITION, Condition("jpeg:q=50", "perturbation", {"q": 50}), Condition("mirror", "perturbation"))


def build_v2(root: Path, *, conditions: tuple[Condition, ...] = CONDITIONS, sources: int = 2,
             schema_version: int = 2) -> Path:
    targets: list[Target] = []
    for s in range(sources):
        src = f"s{s}"
        for c in conditions:
            tid = src if c.name == "clean" else f"{src}x{c.name.split(':')[0]}"
            targets.append(Target(tid, GENS[s % 2], PLACEHOLDER_IMAGE, {"data_row": str(s)}, c.name, src))
    recs = [Reconstruction(t.target_id, g, a, 0.1 + (g != t.true_generator) + 0.01 * a, PLACEHOLDER_IMAGE)
            for t in targets for g in GENS for a in range(2)]
    manifest = Manifest(tuple(GeneratorInfo(g, g.title(), "test", 8, 4) for g in GENS),
                        ReconstructionConfig(10, 0.1, 2, "pixel", 0), "test", schema_version=schema_version,
                        conditions=conditions)
    write_synthetic_bundle(root, manifest, targets, recs)
    return root


def test_v2_round_trip(tmp_path: Path) -> None:
    b = read_bundle(build_v2(tmp_path / "b"))
    assert b.manifest.schema_version == 2
    assert b.condition_names == ("clean", "jpeg:q=50", "mirror")
    assert b.condition("jpeg:q=50") == Condition("jpeg:q=50", "perturbation", {"q": 50})
    raw = json.loads((tmp_path / "b" / MANIFEST_FILE).read_text())
    assert raw["schema_version"] == 2
    assert raw["conditions"] == [{"name": "clean", "kind": "clean", "params": {}},
                                 {"name": "jpeg:q=50", "kind": "perturbation", "params": {"q": 50}},
                                 {"name": "mirror", "kind": "perturbation", "params": {}}]
    header = (tmp_path / "b" / TARGETS_FILE).read_text().splitlines()[0]
    assert header == "target_id,true_generator,image,condition,source_target,data_row"
    by_id = {t.target_id: t for t in b.targets}
    assert by_id["s0"].condition == "clean" and by_id["s0"].source_target == "s0"
    assert by_id["s1xjpeg"].condition == "jpeg:q=50" and by_id["s1xjpeg"].source_target == "s1"
    assert by_id["s1xjpeg"].extra == {"data_row": "1"}  # the v2 columns are fields, not extras
    assert b.algorithm_attribution() == {t.target_id: t.true_generator for t in b.targets}


def test_v2_without_clean_condition(tmp_path: Path) -> None:
    """When clean is not built, source_target names the clean target that would have been; it need not exist."""
    b = read_bundle(build_v2(tmp_path / "b", conditions=CONDITIONS[1:]))
    assert {t.source_target for t in b.targets} == {"s0", "s1"}
    assert "s0" not in {t.target_id for t in b.targets}


def test_v1_bundle_reads_as_all_clean(tmp_path: Path) -> None:
    root = build_v2(tmp_path / "b", conditions=(CLEAN_CONDITION,), schema_version=1)
    raw = json.loads((root / MANIFEST_FILE).read_text())
    assert raw["schema_version"] == 1 and "conditions" not in raw
    assert (root / TARGETS_FILE).read_text().splitlines()[0] == "target_id,true_generator,image,data_row"
    b = read_bundle(root)
    assert b.manifest.schema_version == 1 and b.condition_names == ("clean",)
    assert all(t.condition == "clean" and t.source_target == t.target_id for t in b.targets)


def test_v1_cannot_hold_conditions(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="schema_version 1"):
        build_v2(tmp_path / "b", schema_version=1)


def _edit(root: Path, fn) -> None:  # type: ignore[no-untyped-def]
    raw = json.loads((root / MANIFEST_FILE).read_text())
    fn(raw)
    (root / MANIFEST_FILE).write_text(json.dumps(raw))


def _sub(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda r: _edit(r, lambda m: m.pop("conditions")), "missing key: conditions"),
    (lambda r: _edit(r, lambda m: m.update(conditions=[])), "non-empty list"),
    (lambda r: _edit(r, lambda m: m["conditions"][1].pop("params")), "keys name, kind, params"),
    (lambda r: _edit(r, lambda m: m["conditions"][1].update(name="jpeg:q=50.0")), "not canonical; write 'jpeg:q=50'"),
    (lambda r: _edit(r, lambda m: m["conditions"][1].update(params={"q": 70})), "disagree with its name"),
    (lambda r: _edit(r, lambda m: m["conditions"][1].update(kind="filter")), "must be one of clean, perturbation"),
    (lambda r: _edit(r, lambda m: m["conditions"][1].update(kind="clean")), "only it"),
    (lambda r: _edit(r, lambda m: m["conditions"].append(m["conditions"][2])), "duplicate condition names"),
    (lambda r: _edit(r, lambda m: m["conditions"][1].update(name="jpeg:q=", params={})), "conditions[1].name"),
    (lambda r: _sub(r / TARGETS_FILE, ",condition,", ",cond,"), "missing column(s): condition"),
    (lambda r: _sub(r / TARGETS_FILE, ",mirror,s0,", ",blur:k=3,s0,"), "condition 'blur:k=3' is not a condition"),
    (lambda r: _sub(r / TARGETS_FILE, ",mirror,s0,", ",mirror,s0xmirror,"), "source_target must be the target's"),
    (lambda r: _sub(r / TARGETS_FILE, ",clean,s0,", ",clean,s1,"), "source_target must be the target's own id"),
    (lambda r: _sub(r / TARGETS_FILE, ",mirror,s0,", ",mirror,,"), "empty source_target"),
    (lambda r: _sub(r / TARGETS_FILE, ",mirror,s0,", ",jpeg:q=50,s0,"), "two targets of source_target 's0'"),
    (lambda r: _sub(r / TARGETS_FILE, "s0xmirror,alpha,", "s0xmirror,beta,"), "differs from 'alpha'"),
    (lambda r: _sub(r / TARGETS_FILE, ",mirror,s1,", ",mirror,s0xjpeg,"), "must be a clean target"),
])
def test_bad_v2_bundles_one_clear_error(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    root = build_v2(tmp_path / "b")
    mutate(root)
    with pytest.raises(ContractError) as e:
        read_bundle(root)
    assert message in str(e.value), str(e.value)
    assert "\n" not in str(e.value) and str(root) in str(e.value)


def test_display_names_must_not_reveal_the_condition(tmp_path: Path) -> None:
    root = build_v2(tmp_path / "b")
    line = (root / TARGETS_FILE).read_text().splitlines()[2]
    image = line.split(",")[2]
    new = "images/mirror_1.png"
    (root / image).rename(root / new)
    _sub(root / TARGETS_FILE, image, new)
    with pytest.raises(ContractError, match="reveals"):
        read_bundle(root)
