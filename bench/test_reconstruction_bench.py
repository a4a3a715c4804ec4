"""The benchmark script runs and ends with its ratio (tiny settings; the figures themselves live in bench/RESULTS.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_prints_rates_and_ratio_last(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep.csv"
    proc = subprocess.run([sys.executable, "bench/reconstruction.py", "--zoo", "tiny", "--generator", "tiny-deconv",
                           "--targets", "2", "--attempts", "2", "--steps", "3", "--threads", "1",
                           "--batch-sizes", "1,3", "--sweep-csv", str(sweep)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert re.fullmatch(r"ratio best \(batched [a-z0-9_ +.]+\) / batched fp32: \d+\.\d\dx", lines[-1]), lines[-1]
    assert re.match(r"per CPU second .*: best \(batched [a-z0-9_ +.]+\) / batched fp32: \d+\.\d\dx$", lines[-2])
    assert re.fullmatch(r"ratio batched fp32 / one-at-a-time fp32: \d+\.\d\dx", lines[-3]), lines[-3]
    for path in ("one at a time fp32", "batched fp32", "batched fp32 channels_last", "batched bf16",
                 "batched bf16 channels_last"):
        # every path's recorded distances are the plain contiguous fp32 forward's at its seeds: exact "yes"
        assert any(re.match(rf"{path} +\d+\.\d\d +\d+\.\d +\d+\.\d{{4}} +(\d+\.\d%|-) +yes +\d+\.\d ", ln)
                   for ln in lines), path
    # bf16's distances are recomputed in fp32 and compared with batched fp32's on the same attempts
    assert any(re.match(r"batched fp32 .* 0 / 0 ", ln) for ln in lines)
    assert any(ln.startswith("peaks: fp32 ") for ln in lines)
    assert "load average" in lines[0]
    # the sweep: one line per batch size, 4 CSV rows each (fp32/bf16 x contiguous/channels_last), then the figure
    assert sum(ln.startswith("batch ") for ln in lines) == 2
    rows = sweep.read_text().splitlines()
    assert rows[0].startswith("generator,precision,memory_format,batch,attempt_steps_per_s") and len(rows) == 1 + 8
    png = tmp_path / "sweep.png"
    proc = subprocess.run([sys.executable, "bench/plot_batch_sweep.py", str(sweep), str(png)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_plot_rejects_a_csv_that_is_not_a_sweep(tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    proc = subprocess.run([sys.executable, "bench/plot_batch_sweep.py", str(bad), str(tmp_path / "x.png")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not a sweep CSV" in proc.stderr
    assert not (tmp_path / "x.png").exists()


def test_benchmark_rejects_unknown_generator() -> None:
    proc = subprocess.run([sys.executable, "bench/reconstruction.py", "--zoo", "tiny", "--generator", "nope"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "nope" in proc.stderr
