from __future__ import annotations

from pathlib import Path

import pytest

from contracts.errors import ContractError
from contracts.summary import AGREEMENT_KEYS, SUMMARY_KEYS, read_summary, write_summary


def test_summary_requires_every_contract_key(tmp_path: Path) -> None:
    full = {k: 0 for k in SUMMARY_KEYS} | {"agreement_matrix": {k: 0 for k in AGREEMENT_KEYS}}
    write_summary(tmp_path / "summary.json", full)
    assert read_summary(tmp_path / "summary.json") == full
    partial = dict(full)
    del partial["label_agreement"]
    with pytest.raises(ContractError, match="missing key\\(s\\): label_agreement"):
        write_summary(tmp_path / "other.json", partial)
    assert not (tmp_path / "other.json").exists()


def test_by_condition_is_checked_when_present(tmp_path: Path) -> None:
    from contracts.summary import BY_CONDITION_KEYS

    full = {k: 0 for k in SUMMARY_KEYS} | {"agreement_matrix": {k: 0 for k in AGREEMENT_KEYS}}
    one = {k: 0 for k in BY_CONDITION_KEYS} | {"agreement_matrix": {k: 0 for k in AGREEMENT_KEYS}}
    write_summary(tmp_path / "s.json", full | {"by_condition": {"clean": one, "jpeg:q=50": one}})
    assert set(read_summary(tmp_path / "s.json")["by_condition"]) == {"clean", "jpeg:q=50"}
    broken = {k: v for k, v in one.items() if k != "algorithm_accuracy"}
    with pytest.raises(ContractError, match=r"by_condition\['mirror'\] missing key\(s\): algorithm_accuracy"):
        write_summary(tmp_path / "b.json", full | {"by_condition": {"clean": one, "mirror": broken}})
    with pytest.raises(ContractError, match=r"agreement_matrix must have keys"):
        write_summary(tmp_path / "c.json", full | {"by_condition": {"clean": one | {"agreement_matrix": {}}}})
