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
