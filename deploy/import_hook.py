"""Run a function on one of oTree's modules as soon as that module has been executed (settings.py is imported before
most of oTree, so it cannot change oTree's modules directly; see deploy/gate.py and deploy/otree_threads.py)."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable, Sequence
from types import ModuleType


class _AfterImport(importlib.abc.MetaPathFinder):
    def __init__(self, name: str, key: str, callback: Callable[[ModuleType], None]) -> None:
        self.name, self.key, self.callback = name, key, callback

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader, callback = spec.loader, self.callback
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            callback(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def after_import(name: str, callback: Callable[[ModuleType], None], *, key: str) -> None:
    """Call ``callback(module)`` once module ``name`` has run: now if it already has, else right after its import.
    One pending hook per ``key`` (importing settings.py twice does not call it twice)."""
    if name in sys.modules:
        callback(sys.modules[name])
        return
    if not any(isinstance(f, _AfterImport) and f.key == key for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(name, key, callback))
