"""The files where the three parts meet, as fixed in docs/contracts.md.

One module owns each schema; nothing else in the project parses these files by hand:

- :mod:`contracts.bundle` -- the stimulus bundle (pipeline -> study app, analysis);
- :mod:`contracts.responses` -- the responses export (study app -> analysis);
- :mod:`contracts.summary` -- the analysis ``summary.json``.

:mod:`contracts.synthetic` writes made-up bundles of known truth through :mod:`contracts.bundle` (the analysis
simulator and the tests).

Beside them, what every part's code shares: :mod:`contracts.atomic` (atomic writes), :mod:`contracts.csvfile` (the
contracts' CSV reading), :mod:`contracts.jsonl` (reading JSON Lines) and :mod:`contracts.cli` (every command's
parser: a usage mistake is one line).

Standard library only: the study server's environment (oTree) and the pipeline's (torch) both import it.
"""

from contracts.errors import ContractError

__all__ = ["ContractError"]
