"""What each display image shows, from the bundle: the tests' ground truth about the pictures a participant sees
(never taken from the browser). One index for every test that maps a served image back to its truth.

The placebo row shows copies of the target's own image, so a target's image is indexed as the cell
``Cell(target_id, PLACEBO, None)``: the same ``PLACEBO`` the responses export writes as the chosen generator of
that row (``contracts.responses``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from contracts.bundle import Bundle
from contracts.responses import PLACEBO


@dataclass(frozen=True)
class Cell:
    target_id: str
    generator: str          # PLACEBO: the target's own image (what the placebo row's copies show)
    attempt: int | None     # None for PLACEBO


@dataclass
class ImageIndex:
    """Image file name -> every cell that shows it. Names are content hashes, so two cells share a name only when
    their images are identical (e.g. a reconstruction that reproduced its 8x8 target exactly)."""

    cells: dict[str, list[Cell]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def of(cls, bundle: Bundle) -> ImageIndex:
        idx = cls()
        for t in bundle.targets:
            idx.cells[Path(t.image).name].append(Cell(t.target_id, PLACEBO, None))
        for r in bundle.reconstructions:
            idx.cells[Path(r.image).name].append(Cell(r.target_id, r.generator, r.attempt))
        return idx

    def all(self, url: str) -> list[Cell]:
        """Every cell an image URL (or file name) shows."""
        return self.cells[url.rsplit("/", 1)[-1]]

    def __getitem__(self, url: str) -> Cell:
        """The cell an image shows; of several identical images, the last reconstruction in the bundle's order."""
        return self.all(url)[-1]

    def target_of(self, url: str) -> str:
        """The target whose own image this is."""
        return next(c.target_id for c in self.all(url) if c.generator == PLACEBO)
