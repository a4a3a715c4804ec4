"""The provenance log at scale: batched appends/s, checkpoint time, inclusion and consistency proof generation and
verification at 10^3 ... 10^6 entries, log size per entry. Goals (issue 14): >= 20,000 appends/s batched, proofs
< 1 ms at 10^6 on 2 cores, log size O(n).

    .venv/bin/python bench/provenance.py [--max-size 1000000] [--batch 1000] [--proofs 1000] [--workdir DIR]

One log grows through the sizes (each append durable: SQLite WAL, synchronous=FULL); at each size it measures, side
by side in this run: appends/s of that growth segment in batches of ``--batch`` (entry validation, canonical JSON,
leaf hash, insert, commit), wall clock and per CPU-second of this process, one-entry appends/s (the same work, one commit each) over 200 entries, a checkpoint
(sign + store) on the open log and on a freshly opened one (all leaf hashes read back and the subtree store
rebuilt), median inclusion / consistency proof generation and verification over ``--proofs`` random indices, and the
database's bytes per entry.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from contracts.cli import OneLineParser  # noqa: E402
from provenance.log import Log, init_log  # noqa: E402
from provenance.merkle import verify_consistency, verify_inclusion  # noqa: E402


def entries(start: int, n: int) -> list[dict[str, object]]:
    def h(s: str) -> str:
        return hashlib.sha256(s.encode()).hexdigest()
    return [{"v": 1, "generator": "face-style", "model": h("weights"), "seed_commitment": h(f"c{i}"),
             "image_sha256": h(f"i{i}"), "size": [64, 64], "time": "2026-12-02T12:00:00Z"}
            for i in range(start, start + n)]


def timed(calls: list[Any]) -> tuple[list[Any], float]:
    """Run each call, return the results and the median seconds per call."""
    out, times = [], []
    for c in calls:
        t0 = time.perf_counter()
        out.append(c())
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def db_bytes(log_dir: Path) -> int:
    return sum(p.stat().st_size for p in log_dir.glob("log.sqlite*"))


def main() -> int:
    ap = OneLineParser()
    ap.add_argument("--max-size", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--proofs", type=int, default=1000)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-prov-", dir=args.workdir))
    rng = random.Random(0)
    try:
        log = init_log(work / "log", origin="bench.example/log")
        sizes = [s for s in (10**3, 10**4, 10**5, 10**6, 10**7) if s <= args.max_size]
        print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores shared with other work); proof times are "
              f"medians of {args.proofs}")
        print(f"{'entries':>9} {'appends/s':>10} {'/CPU-s':>10} {'1-by-1/s':>9} {'ckpt ms':>8} {'cold ckpt s':>11} "
              f"{'incl gen us':>11} {'incl ver us':>11} {'cons gen us':>11} {'cons ver us':>11} {'B/entry':>8}")
        for size in sizes:
            t_app = c_app = 0.0
            while log.size < size:
                batch = entries(log.size, min(args.batch, size - log.size))
                t0, c0 = time.perf_counter(), time.process_time()
                log.append(batch)
                t_app += time.perf_counter() - t0
                c_app += time.process_time() - c0
            seg = size - (sizes[sizes.index(size) - 1] if sizes.index(size) else 0)
            single = entries(10**9 + size, 200)  # measured on a copy, so the main log keeps its sizes
            shutil.copytree(work / "log", work / "single")
            with Log.open(work / "single") as other:
                t0 = time.perf_counter()
                for e in single:
                    other.append([e])
                one_by_one = len(single) / (time.perf_counter() - t0)
            shutil.rmtree(work / "single")
            t0 = time.perf_counter()
            sc = log.checkpoint()
            t_ckpt = time.perf_counter() - t0
            t0 = time.perf_counter()
            with Log.open(work / "log") as cold:
                cold.checkpoint()
            t_cold = time.perf_counter() - t0
            root = sc.checkpoint.root
            idx = [rng.randrange(size) for _ in range(args.proofs)]
            proofs, t_ig = timed([lambda i=i: log.tree.inclusion_proof(i) for i in idx])
            leaves = [log.tree.leaf(i) for i in idx]
            _, t_iv = timed([lambda i=i, lh=lh, p=p: verify_inclusion(i, size, lh, p, root)
                             for i, lh, p in zip(idx, leaves, proofs)])
            olds = [rng.randrange(1, size) for _ in range(args.proofs)]
            old_roots = [log.tree.root(m) for m in olds]
            cproofs, t_cg = timed([lambda m=m: log.tree.consistency_proof(m) for m in olds])
            _, t_cv = timed([lambda m=m, r=r, p=p: verify_consistency(m, size, r, root, p)
                             for m, r, p in zip(olds, old_roots, cproofs)])
            print(f"{size:>9} {seg / t_app:>10.0f} {seg / c_app:>10.0f} {one_by_one:>9.0f} {t_ckpt * 1e3:>8.2f} {t_cold:>11.2f} "
                  f"{t_ig * 1e6:>11.1f} {t_iv * 1e6:>11.1f} {t_cg * 1e6:>11.1f} {t_cv * 1e6:>11.1f} "
                  f"{db_bytes(work / 'log') / size:>8.0f}", flush=True)
        log.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
