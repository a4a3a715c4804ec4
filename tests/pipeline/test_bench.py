"""The benchmark script runs and ends with its ratio (tiny settings; the figures themselves live in bench/RESULTS.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_prints_rates_and_ratio_last() -> None:
    proc = subprocess.run([sys.executable, "bench/reconstruction.py", "--zoo", "tiny", "--generator", "tiny-deconv",
                           "--targets", "2", "--attempts", "2", "--steps", "3", "--threads", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert re.fullmatch(r"ratio best \(batched [a-z0-9_ +.]+\) / batched fp32: \d+\.\d\dx", lines[-1]), lines[-1]
    assert re.fullmatch(r"ratio batched fp32 / one-at-a-time fp32: \d+\.\d\dx", lines[-2]), lines[-2]
    for path in ("one at a time fp32", "batched fp32", "batched bf16"):
        assert any(re.match(rf"{path} +\d+\.\d\d +\d+\.\d +\d+\.\d{{4}} ", ln) for ln in lines), path
    # bf16's distances are recomputed in fp32 and compared with batched fp32's on the same attempts
    assert any(re.match(r"batched fp32 .* 0 / 0 ", ln) for ln in lines)
    assert any(ln.startswith("peaks: fp32 ") for ln in lines)


def test_benchmark_rejects_unknown_generator() -> None:
    proc = subprocess.run([sys.executable, "bench/reconstruction.py", "--zoo", "tiny", "--generator", "nope"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "nope" in proc.stderr
