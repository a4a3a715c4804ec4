"""The files where the three parts meet, as fixed in shared/design/contracts.md.

One module owns each schema; nothing else in the project parses these files by hand:

- :mod:`contracts.bundle` -- the stimulus bundle (pipeline -> study app, analysis);
- :mod:`contracts.responses` -- the responses export (study app -> analysis);
- :mod:`contracts.summary` -- the analysis ``summary.json``.

:mod:`contracts.synthetic` writes made-up bundles of known truth through :mod:`contracts.bundle` (the analysis
simulator and the tests).

Standard library only: the study server's environment (oTree) and the pipeline's (torch) both import it.
"""

from contracts.errors import ContractError

__all__ = ["ContractError"]
