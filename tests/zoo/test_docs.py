from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from reconstruction_pipeline.generators import seeded_latents
from reconstruction_pipeline.zoo import load_plugin

DOC = Path(__file__).resolve().parents[2] / "docs" / "zoo" / "plugins.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_adapter_example_is_about_ten_lines() -> None:
    adapter = _blocks()[0]
    code = [ln for ln in adapter.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert len(code) <= 12


def test_self_contained_doc_example_runs_as_a_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _blocks()[1]
    (tmp_path / "zoo_doc_plugin.py").write_text(src)
    monkeypatch.syspath_prepend(str(tmp_path))
    g = load_plugin("mine=zoo_doc_plugin:build", device="cpu")
    assert (g.latent_dim, g.resolution) == (32, 16)
    torch.save(g.net.state_dict(), tmp_path / "w.pt")
    g2 = load_plugin(f"mine=zoo_doc_plugin:build:{tmp_path / 'w.pt'}", device="cpu")
    z = seeded_latents([0, 1], 32)
    torch.testing.assert_close(g.synthesize(z), g2.synthesize(z))
