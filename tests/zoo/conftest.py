from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _few_threads() -> None:
    # the CI machine has 2 cores shared by both test environments
    torch.set_num_threads(1)
