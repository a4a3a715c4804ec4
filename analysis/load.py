"""From the contract files to tidy DataFrames: the only place the analysis touches the bundle and the export.

Everything is read through :mod:`contracts` (``read_bundle``, ``read_responses``, ``check_against_bundle``); this
module only reshapes the validated objects into three tidy tables:

- ``responses``: one row per answered round, with the target's ``true_generator`` and ``condition`` joined on;
- ``targets``: one row per bundle target with its ``condition`` and ``source_target`` (docs/contracts.md, conditions addendum;
  a version-1 bundle: ``clean``, its own id) and the algorithm's attribution (contract tie rule) and correctness;
- ``reconstructions``: one row per (target, generator, attempt) with its final distance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.bundle import Bundle, read_bundle
from contracts.responses import Response, check_against_bundle, read_responses

RESPONSE_FRAME_COLUMNS: tuple[str, ...] = (
    "participant_code", "participant_label", "round_number", "target_id", "true_generator", "is_placebo",
    "chosen_generator", "chosen_attempt", "correct", "response_ms", "condition",
)


@dataclass(frozen=True)
class StudyTables:
    """A loaded study: the tidy tables every analysis function takes, plus where they came from."""

    responses: pd.DataFrame
    targets: pd.DataFrame
    reconstructions: pd.DataFrame
    generators: tuple[str, ...]
    generator_labels: dict[str, str]
    attempts: int
    bundle_root: Path
    responses_source: str
    bundle_software: str
    bundle_created_at: str
    conditions: tuple[str, ...] = ("clean",)   # the manifest's condition names, in build order


def load(bundle: Bundle | str | Path, responses: Sequence[Response] | str | Path, *,
         check_images: bool = False) -> StudyTables:
    """Load a study from a bundle (object or directory) and responses (parsed rows or an export CSV).

    Raises :class:`contracts.errors.ContractError` (one line: file, row, problem) on any contract violation,
    including responses that refer to another bundle's targets or truth. The analysis reads the bundle's tables
    only, never its images, so by default it does not stat every display image (``check_images=True`` does; at
    paper scale that is 60,000 files); image names are still checked for being opaque.
    """
    b = bundle if isinstance(bundle, Bundle) else read_bundle(bundle, check_images=check_images)
    if isinstance(responses, (str, Path)):
        source = str(responses)
        rows = read_responses(responses)
    else:
        source = "<responses>"
        rows = list(responses)
    check_against_bundle(rows, b, source)
    reconstructions = reconstructions_frame(b)
    targets = targets_frame(b)
    return StudyTables(
        responses=responses_frame(rows, dict(zip(targets["target_id"], targets["true_generator"])),
                                  dict(zip(targets["target_id"], targets["condition"]))),
        targets=targets,
        reconstructions=reconstructions,
        generators=tuple(sorted(b.generator_ids)),
        generator_labels={g.id: g.label for g in b.manifest.generators},
        attempts=b.attempts,
        bundle_root=b.root,
        responses_source=source,
        bundle_software=b.manifest.software,
        bundle_created_at=b.manifest.created_at,
        conditions=tuple(c.name for c in b.manifest.conditions),
    )


def reconstructions_frame(bundle: Bundle) -> pd.DataFrame:
    recs = bundle.reconstructions
    return pd.DataFrame({
        "target_id": [r.target_id for r in recs],
        "generator": [r.generator for r in recs],
        "attempt": np.fromiter((r.attempt for r in recs), dtype=np.int64, count=len(recs)),
        "distance": np.fromiter((r.distance for r in recs), dtype=np.float64, count=len(recs)),
    })


def targets_frame(bundle: Bundle) -> pd.DataFrame:
    """Targets with the algorithm's attribution from the bundle's distances (``Bundle.algorithm_attribution``)."""
    attribution = bundle.algorithm_attribution()
    frame = pd.DataFrame({
        "target_id": [t.target_id for t in bundle.targets],
        "true_generator": [t.true_generator for t in bundle.targets],
        "condition": [t.condition for t in bundle.targets],
        "source_target": [t.source_target for t in bundle.targets],
    })
    frame["algo_generator"] = frame["target_id"].map(attribution)
    frame["algo_correct"] = frame["algo_generator"] == frame["true_generator"]
    return frame


def responses_frame(rows: Sequence[Response], truth: dict[str, str], condition: dict[str, str] | None = None
                    ) -> pd.DataFrame:
    """One row per answered round. ``chosen_attempt`` is -1 where the PLACEBO row was chosen. ``condition`` is the
    bundle's (target_id -> condition; the export's own column has been checked against it); default: each row's."""
    frame = pd.DataFrame({
        "participant_code": [r.participant_code for r in rows],
        "participant_label": [r.participant_label for r in rows],
        "round_number": np.fromiter((r.round_number for r in rows), dtype=np.int64, count=len(rows)),
        "target_id": [r.target_id for r in rows],
        "is_placebo": np.fromiter((r.is_placebo for r in rows), dtype=bool, count=len(rows)),
        "chosen_generator": [r.chosen_generator for r in rows],
        "chosen_attempt": np.fromiter((-1 if r.chosen_attempt is None else r.chosen_attempt for r in rows),
                                      dtype=np.int64, count=len(rows)),
        "correct": np.fromiter((r.correct for r in rows), dtype=bool, count=len(rows)),
        "response_ms": np.fromiter((r.response_ms for r in rows), dtype=np.float64, count=len(rows)),
    })
    frame["true_generator"] = frame["target_id"].map(truth)
    frame["condition"] = (frame["target_id"].map(condition) if condition is not None
                          else pd.Series([r.condition for r in rows], dtype=object))
    return frame.loc[:, list(RESPONSE_FRAME_COLUMNS)]
