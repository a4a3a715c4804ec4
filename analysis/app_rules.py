"""The study app's allocation rules (``study_app/allocation.py``) for the analysis and the simulations.

One rule in one place: whether a target's majority is settled (:func:`settled`) and how the app picks the next
target are defined once, in the app's pure allocation module. Importing the ``study_app`` package would start oTree
(its ``__init__`` is the oTree app and needs an oTree project directory), so this loads that single module by its
file path, once. It imports only the standard library (a test checks that it loads here).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

ALLOCATION_FILE = Path(__file__).resolve().parents[1] / "study_app" / "allocation.py"
_NAME = "_study_app_allocation_rules"


def _load() -> ModuleType:
    if _NAME in sys.modules:
        return sys.modules[_NAME]
    spec = importlib.util.spec_from_file_location(_NAME, ALLOCATION_FILE)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the study app's allocation rules from {ALLOCATION_FILE}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_NAME] = module
    spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:
    from study_app import allocation
else:
    allocation = _load()

settled = allocation.settled
leader = allocation.leader
MODES = allocation.MODES

__all__ = ["MODES", "allocation", "leader", "settled"]
