"""Fixtures for the pipeline tests: the real ``tiny`` zoo (three trained 8x8 generators), loaded once."""

from __future__ import annotations

import pytest
import torch

from reconstruction_pipeline.generators import Generator
from reconstruction_pipeline.zoo import load_zoo


@pytest.fixture(scope="session")
def tiny() -> list[Generator]:
    return load_zoo("tiny", device="cpu")


@pytest.fixture(scope="session")
def tiny64() -> list[Generator]:
    """The tiny zoo in float64 (a separate copy)."""
    return [g.to(torch.float64) for g in load_zoo("tiny", device="cpu")]
