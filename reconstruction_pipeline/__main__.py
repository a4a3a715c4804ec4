"""``python -m reconstruction_pipeline COMMAND ...``

Commands: ``zoo`` (list / train generators: :mod:`reconstruction_pipeline.zoo.cli`), ``attack`` (adversaries:
:mod:`reconstruction_pipeline.attacks.cli`), ``fingerprints`` (the artificial-fingerprint codec:
:mod:`reconstruction_pipeline.fingerprints.cli`) and the pipeline's own commands ``build``, ``evaluate``,
``attribute``, ``compare``, ``conditions``, ``generate``, ``audit`` (:mod:`reconstruction_pipeline.cli`).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "zoo":
        from reconstruction_pipeline.zoo.cli import main as zoo_main

        return zoo_main(argv[1:])
    if argv and argv[0] == "attack":
        from reconstruction_pipeline.attacks.cli import main as attack_main

        return attack_main(argv[1:])
    if argv and argv[0] == "fingerprints":
        from reconstruction_pipeline.fingerprints.cli import main as fingerprints_main

        return fingerprints_main(argv[1:])
    from reconstruction_pipeline.cli import main as pipeline_main

    if not argv or argv[0] in ("-h", "--help"):
        print("generators: python -m reconstruction_pipeline zoo {list,train} ...  (zoo --help for details)")
        print("attacks:    python -m reconstruction_pipeline attack {list,run,figures,image,train-classifier} ...")
        print("fingerprints: python -m reconstruction_pipeline fingerprints {train,embed,attribute} ...\n")
    return pipeline_main(argv)


if __name__ == "__main__":
    sys.exit(main())
