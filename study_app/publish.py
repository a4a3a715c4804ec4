"""``python -m study_app.publish BUNDLE [DEST]``: copy a bundle's display images to a static folder.

DEST defaults to ``_static/stimuli`` (served by oTree in development at ``/static/stimuli/``). In production,
publish into the folder nginx or a CDN serves and set ``STIMULUS_BASE_URL`` to its URL (docs/experimenter.md).
"""

from __future__ import annotations

import sys

from contracts.cli import make_parser, report
from study_app.stimuli import DEV_STATIC_DIR, StudyConfigError, load_stimulus_set, publish


def main(argv: list[str] | None = None) -> int:
    parser = make_parser("python -m study_app.publish", __doc__.splitlines()[0])
    parser.add_argument("bundle", help="stimulus bundle directory (manifest.json, targets.csv, ...)")
    parser.add_argument("dest", nargs="?", default=str(DEV_STATIC_DIR),
                        help="folder to copy the images into")
    args = parser.parse_args(argv)
    try:
        study = load_stimulus_set(args.bundle)
        copied, skipped = publish(study, args.dest)
    except (StudyConfigError, OSError) as e:
        return report(e, 1)
    print(f"{copied} images copied, {skipped} already there -> {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
