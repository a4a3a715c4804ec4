"""``--executor ray``: shards on Ray actors (a local Ray instance on the CPU) give the same bundle as local."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconstruction_pipeline.cli import main

ARGS = ["build", "--zoo", "tiny", "--targets-per-generator", "2", "--attempts", "2", "--steps", "8",
        "--targets-per-shard", "1", "--device", "cpu", "--no-progress"]


def _files(root: Path) -> dict[str, bytes]:
    out = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
           if p.is_file() and not p.relative_to(root).as_posix().startswith(".work/")}
    for key in ("created_at", "software"):
        m = json.loads(out["manifest.json"])
        m.pop(key)
        out["manifest.json"] = json.dumps(m, sort_keys=True).encode()
    return out


@pytest.mark.slow
def test_ray_build_equals_local_build(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    local, distributed = tmp_path / "local", tmp_path / "ray"
    assert main([*ARGS, "--out", str(local)]) == 0
    assert main([*ARGS, "--out", str(distributed), "--executor", "ray", "--ray-workers", "2"]) == 0
    assert not ray.is_initialized()  # the build shut down the Ray instance it started
    a, b = _files(local), _files(distributed)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == b[name], name
