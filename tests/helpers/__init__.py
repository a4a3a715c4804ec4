"""Shared test utilities (importable as ``tests.helpers`` because pytest runs with ``pythonpath=["."]``)."""

from harness.bundle import DEFAULT_GENERATORS, make_bundle

__all__ = ["DEFAULT_GENERATORS", "make_bundle"]
