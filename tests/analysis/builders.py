"""Tiny hand-built studies for the analysis tests, written through ``contracts.synthetic``.

``build_bundle`` takes each target's truth and the algorithm's pick; distances are made so that the pick is the
closest generator (``"tie:a,b"`` makes a and b exactly equally close, to exercise the contract's tie rule).
``vote`` builds one response row with ``contracts.responses.make_response``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from contracts.bundle import Bundle, GeneratorInfo, Manifest, Reconstruction, ReconstructionConfig, Target
from contracts.responses import PLACEBO, Response, make_response
from contracts.synthetic import PLACEHOLDER_IMAGE, write_synthetic_bundle

GENS: tuple[str, ...] = ("dcgan", "progan", "stylegan")


def build_bundle(root: Path, targets: Mapping[str, tuple[str, str]], *, generators: Sequence[str] = GENS,
                 attempts: int = 3, distances: Mapping[tuple[str, str, int], float] | None = None) -> Bundle:
    """``targets``: target_id -> (true generator, algorithm's pick or ``"tie:a,b"``)."""
    rows: list[Target] = []
    recs: list[Reconstruction] = []
    for tid, (truth, pick) in targets.items():
        rows.append(Target(tid, truth, PLACEHOLDER_IMAGE))
        close = set(pick[4:].split(",")) if pick.startswith("tie:") else {pick}
        for g in generators:
            for a in range(attempts):
                d = 0.1 if g in close else 0.5 + 0.1 * a
                if distances and (tid, g, a) in distances:
                    d = distances[(tid, g, a)]
                recs.append(Reconstruction(tid, g, a, d, PLACEHOLDER_IMAGE))
    manifest = Manifest(
        generators=tuple(GeneratorInfo(g, g.upper(), "hand-built test bundle", 2, 4) for g in generators),
        reconstruction=ReconstructionConfig(steps=1, lr=0.1, attempts=attempts, distance="mse", seed=0),
        software="tests.analysis.builders",
    )
    return write_synthetic_bundle(root, manifest, rows, recs)


def vote(code: str, round_number: int, target: str, chosen: str, *, truth: str, placebo: bool = False,
         ms: float = 1000.0, generators: Sequence[str] = GENS, label: str = "") -> Response:
    """One answered round; ``chosen`` is a generator id or ``PLACEBO``."""
    order = list(generators) + ([PLACEBO] if placebo else [])
    return make_response(participant_code=code, participant_label=label, round_number=round_number,
                         target_id=target, true_generator=truth, row_order=order, chosen_generator=chosen,
                         chosen_attempt=None if chosen == PLACEBO else 0, response_ms=ms)
