"""Plot the batch-size sweep of bench/reconstruction.py (``--batch-sizes ... --sweep-csv PATH``): attempt-steps/s
against batch size, one panel per generator, one line per precision x memory format.

    .venv-pipeline/bin/python bench/plot_batch_sweep.py bench/batch_sweep.csv docs/img/batch-sweep.png [--metric cpu]

``--metric cpu`` (default): attempt-steps per second of the process's CPU time (steady on a shared machine with
``--threads 1``); ``wall``: per second of wall time.
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from contracts.cli import EXIT_USAGE, make_parser, report  # noqa: E402

METRICS = {"cpu": "attempt_steps_per_cpu_s", "wall": "attempt_steps_per_s"}
REQUIRED = ("generator", "precision", "memory_format", "batch")


def read_sweep(path: Path, metric: str = "cpu") -> dict[str, dict[str, list[tuple[int, float]]]]:
    """generator -> 'precision memory_format' -> [(batch, attempt-steps/s)] sorted by batch."""
    column = METRICS[metric]
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in (*REQUIRED, column) if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: not a sweep CSV (missing columns {', '.join(missing)})")
        out: dict[str, dict[str, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
        for row in reader:
            out[row["generator"]][f"{row['precision']} {row['memory_format']}"].append(
                (int(row["batch"]), float(row[column])))
    return {g: {k: sorted(v) for k, v in lines.items()} for g, lines in out.items()}


def main(argv: list[str] | None = None) -> int:
    p = make_parser(None, (__doc__ or "").split("\n\n")[0])
    p.add_argument("csv", type=Path)
    p.add_argument("png", type=Path)
    p.add_argument("--metric", choices=sorted(METRICS), default="cpu")
    args = p.parse_args(argv)
    try:
        sweep = read_sweep(args.csv, args.metric)
    except (OSError, ValueError) as e:
        return report(e, EXIT_USAGE)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sweep), figsize=(4 * len(sweep), 3.4), squeeze=False)
    style = {"fp32 contiguous": ("tab:blue", "-"), "fp32 channels_last": ("tab:blue", "--"),
             "bf16 contiguous": ("tab:red", "-"), "bf16 channels_last": ("tab:red", "--")}
    for ax, (gen, lines) in zip(axes[0], sweep.items()):
        for key, pts in lines.items():
            color, ls = style.get(key, ("black", ":"))
            ax.plot([b for b, _ in pts], [r for _, r in pts], marker="o", color=color, linestyle=ls, label=key)
        ax.set_xscale("log", base=2)
        ax.set_title(gen)
        ax.set_xlabel("batch (attempts)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("attempt-steps per CPU second" if args.metric == "cpu" else "attempt-steps/s (wall)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    args.png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.png, dpi=110)
    print(f"written {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
