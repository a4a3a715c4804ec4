"""A tiny fixed-seed ``build`` writes the same bytes as when these digests were pinned (issue 11 item 7: a refactor
that changes any output fails here loudly, not in a reviewer's diff of a 500-step run).

The digests are of fp32 CPU kernels at the AVX2 instruction set (the build was identical run to run and at 1 and 2
threads). Wider instruction sets round the tiny zoo's transposed convolution differently (oneDNN's AVX-512 kernels
change `tiny-deconv`'s seeds in the last bits), so the build runs in a subprocess with oneDNN, ATen and MKL held to
AVX2 (``ISA_ENV``): the same bytes on an AVX2 runner and on an AVX-512 one (checked on both, 2026-12); it skips only on
a CPU without AVX2. After an intended change of the outputs, replace ``PINNED`` with the digests the failure prints,
and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

# every library that picks kernels by instruction set, held to AVX2 (oneDNN's is the one that matters for the tiny zoo)
ISA_ENV = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
ARGS = ["build", "--zoo", "tiny", "--targets-per-generator", "2", "--attempts", "2", "--steps", "5", "--seed", "0",
        "--precision", "fp32", "--memory-format", "contiguous", "--device", "cpu", "--no-progress"]
# the same digests as the build of commit 9542f80, before the issue-11 redesign (bench/RESULTS.md)
PINNED: dict[str, str] = {
    "images/": "efbcfa1fc776af78f9d516c0cd21f5b925a6645c25c40340cea682384a35943c",
    "review/": "5799961537667ca64fe47b5dd6c1e4b489455a0efabedea4d3e21e280377711f",
    "data/final_seeds_tiny-cppn.npy": "f87398799a8116dc76e97fbca3e56bb8e8e2cfaf020b8d90200b70f1dd1772d5",
    "data/final_seeds_tiny-deconv.npy": "5084dd5bd90e3dd8d54abfa04bae324757bd3b18c2b5a9283eead3ad0bb5da98",
    "data/final_seeds_tiny-mlp.npy": "ffb55c5c87cb59df9420d830d116e385510ae548cd2a00af87e34f4f6d6b550e",
    "data/loss_curves.csv": "22c75098e12c4e081c5c216f4f937efd52e4b3009ec4c6f054b6da903c49cd17",
    "data/targets.npy": "8b99cadc69f43af4aab1f328637bc05ad14c119ff5302e22cdb67af14b523180",
    "manifest.json": "cd6ed3719cec1ecb417c54b422d3904743e481d5e4c69c21dc45be1d6669d5c7",
    "reconstructions.csv": "d6980fb95a14e72d1773ae733c092bd89fa9419c6de2e95c8b0d9b8c579c7846",
    "targets.csv": "300d142249b6873943c8fedc93ed0fe0c8e64100ab80aaf810be82facd2f16a2",
}


def digests(root: Path) -> dict[str, str]:
    """sha256 of every file of the bundle (the work dir aside); the manifest without created_at and software, and
    images/ and review/ as one digest each (over their sorted names and bytes)."""
    out: dict[str, str] = {}
    for folder in ("images", "review"):
        h = hashlib.sha256()
        for p in sorted((root / folder).iterdir()):
            h.update(p.name.encode() + b"\0" + p.read_bytes())
        out[f"{folder}/"] = h.hexdigest()
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith((".work/", "images/", "review/")):
            data = p.read_bytes()
            if rel == "manifest.json":
                m = json.loads(data)
                del m["created_at"], m["software"]
                data = json.dumps(m, sort_keys=True).encode()
            out[rel] = hashlib.sha256(data).hexdigest()
    return out


@pytest.mark.skipif(torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"),
                    reason="digests pinned at the AVX2 instruction set, which this CPU lacks")
def test_tiny_fixed_seed_build_is_byte_identical(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "reconstruction_pipeline", *ARGS, "--out", str(tmp_path / "b")],
                         env={**os.environ, **ISA_ENV}, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    got = digests(tmp_path / "b")
    assert got == PINNED, "build outputs changed; if intended, pin these:\n" + json.dumps(got, indent=4)
