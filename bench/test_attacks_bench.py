"""bench/attacks.py runs and ends with its ratio (tiny settings; the figures live in bench/RESULTS.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_attack_benchmark_prints_rates_and_ratio_last() -> None:
    proc = subprocess.run([sys.executable, "bench/attacks.py", "--zoo", "tiny", "--targets-per-generator", "1",
                           "--attack", "fgsm-image:eps=0.03", "fgm-image:l2=1", "--threads", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert re.fullmatch(r"ratio batched / one-at-a-time: \d+\.\d\dx", lines[-1]), lines[-1]
    assert sum("targets/s" in ln and "max |image difference| 0" in ln for ln in lines) == 2


def test_attack_benchmark_rejects_an_unknown_attack() -> None:
    proc = subprocess.run([sys.executable, "bench/attacks.py", "--zoo", "tiny", "--attack", "nope:eps=1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "unknown attack" in proc.stderr
