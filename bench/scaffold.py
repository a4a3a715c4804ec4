"""What the pipeline's benchmark scripts share: a parser with ``--zoo``, ``--device`` and ``--threads``, and the
device those options give (torch's CPU threads set first)."""

from __future__ import annotations

import argparse

import torch

from contracts.cli import OneLineParser, make_parser
from reconstruction_pipeline.generators import resolve_device


def bench_parser(doc: str | None, *, zoo: str = "faces") -> OneLineParser:
    """A benchmark's one-line-error parser: the first paragraph of ``doc`` as its description, then ``--zoo``,
    ``--device`` and ``--threads`` (the script adds its own options)."""
    p = make_parser(None, (doc or "").split("\n\n")[0])
    p.add_argument("--zoo", default=zoo)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    return p


def bench_device(args: argparse.Namespace) -> torch.device:
    """Set torch's CPU threads to ``--threads`` (when given), then the device ``--device`` names."""
    if args.threads:
        torch.set_num_threads(args.threads)
    return resolve_device(args.device)
