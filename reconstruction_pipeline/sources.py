"""Which generators a run uses: a zoo and/or user plugins, described by value so that a Ray worker can load the
same ones (``GeneratorSource.load``) and a resumed build can check it is the same run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from reconstruction_pipeline.errors import PipelineError
from reconstruction_pipeline.generators import Generator

__all__ = ["GeneratorSource", "PipelineError", "check_generators"]  # PipelineError: re-exported for plugins


@dataclass(frozen=True)
class GeneratorSource:
    """``zoo``: a zoo name (``python -m reconstruction_pipeline zoo list``); ``plugins``: ``ID=pkg.mod:factory[:ckpt]``."""

    zoo: str | None = None
    plugins: tuple[str, ...] = ()

    def describe(self) -> dict[str, object]:
        return {"zoo": self.zoo, "plugins": list(self.plugins)}

    def load(self, *, device: torch.device | str = "cpu") -> list[Generator]:
        """Load every generator; a bad zoo name, plugin or checkpoint is a :class:`PipelineError` (exit code 2)."""
        from reconstruction_pipeline.zoo import ZooError, load_plugin, load_zoo

        if self.zoo is None and not self.plugins:
            raise PipelineError("no generators: give --zoo NAME and/or --generator ID=pkg.mod:factory[:ckpt]",
                                exit_code=2)
        gens: list[Generator] = []
        try:
            if self.zoo is not None:
                gens += load_zoo(self.zoo, device=device)
            for spec in self.plugins:
                gens.append(load_plugin(spec, device=device))
        except ZooError as e:
            raise PipelineError(str(e), exit_code=2) from None
        check_generators(gens)
        return gens


def check_generators(gens: Sequence[Generator]) -> None:
    ids = [g.id for g in gens]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise PipelineError(f"generator id {dup[0]!r} given twice; give each --generator a distinct ID", exit_code=2)
    if len({g.resolution for g in gens}) > 1:
        res = ", ".join(f"{g.id}={g.resolution}" for g in gens)
        raise PipelineError(f"generators have different resolutions ({res}); the candidates of one run must share "
                            "a resolution", exit_code=2)
