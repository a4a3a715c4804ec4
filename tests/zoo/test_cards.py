from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from reconstruction_pipeline.zoo.cards import main


def test_cards_for_the_tiny_zoo(tmp_path: Path) -> None:
    notes = tmp_path / "notes.json"
    notes.write_text(json.dumps({"tiny-mlp": "hand-written note"}))
    assert main(["--out", str(tmp_path), "--zoo", "tiny", "--notes", str(notes)]) == 0
    for gen_id in ("tiny-mlp", "tiny-deconv", "tiny-cppn"):
        md = (tmp_path / f"{gen_id}.md").read_text()
        assert md.startswith(f"# `{gen_id}`")
        assert f"![samples, seeds 0..63]({gen_id}.png)" in md
        assert "python -m reconstruction_pipeline zoo train" in md and "sha256" in md
        assert "No pairwise figures yet" in md  # no pairwise_tiny.json in tmp_path
        img = Image.open(tmp_path / f"{gen_id}.png")
        assert img.size == (8 * 32 + 9 * 2, 8 * 32 + 9 * 2)  # 8x8 grid of 4x enlarged 8x8 images, 2 px padding
    assert "## Notes\n\nhand-written note" in (tmp_path / "tiny-mlp.md").read_text()


def test_cards_for_the_siblings_zoo_report_delta_and_fingerprint(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path), "--zoo", "siblings"]) == 0
    for gen_id, key in (("sibling-a", "key-a"), ("sibling-offender", None)):
        md = (tmp_path / f"{gen_id}.md").read_text()
        assert md.startswith(f"# `{gen_id}`") and "as a **delta** over the parent" in md
        assert f"python -m reconstruction_pipeline zoo train {gen_id}" in md and "sha256" in md
        assert "## Fingerprint in its own samples" in md and "| key-a | key-b | key-c | key-d | attributed |" in md
        assert ("Enc(G_parent(z), key)" in md) == (key is not None)
        assert Image.open(tmp_path / f"{gen_id}.png").size == (8 * 64 + 9 * 2, 8 * 64 + 9 * 2)
    assert "starts from: `sibling-a`" in (tmp_path / "sibling-offender.md").read_text()
