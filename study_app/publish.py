"""``python -m study_app.publish BUNDLE [DEST]``: copy a bundle's display images to a static folder.

DEST defaults to ``_static/stimuli`` (served by oTree in development at ``/static/stimuli/``). In production,
publish into the folder nginx or a CDN serves and set ``STIMULUS_BASE_URL`` to its URL (docs/experimenter.md).
"""

from __future__ import annotations

import argparse
import sys

from study_app.stimuli import DEV_STATIC_DIR, StudyConfigError, load_stimulus_set, publish


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m study_app.publish", description=__doc__.splitlines()[0])
    parser.add_argument("bundle", help="stimulus bundle directory (manifest.json, targets.csv, ...)")
    parser.add_argument("dest", nargs="?", default=str(DEV_STATIC_DIR),
                        help=f"folder to copy the images into (default: {DEV_STATIC_DIR})")
    args = parser.parse_args(argv)
    try:
        study = load_stimulus_set(args.bundle)
        copied, skipped = publish(study, args.dest)
    except (StudyConfigError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{copied} images copied, {skipped} already there -> {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
