#!/usr/bin/env bash
# The demo: the README's first command.
#  1. creates both environments inside the repo (scripts/setup.sh; first run installs torch from local disk),
#  2. builds a small stimulus bundle from the shipped `faces` generators on the CPU (resumable: a re-run reuses it),
#     every target clean, JPEG-compressed (q 50) and mirrored (three conditions, paper section VI-B),
#  3. serves the study on localhost with oTree's devserver (SQLite), creates a demo session and prints the
#     participant link, the admin link and how to export. Ctrl-C stops it.
# Environment overrides: PORT (8000), DEMO_BUNDLE (demo_bundle), DEMO_TARGETS (per generator, 4: the demo session's
# 10 rounds + 2 practice rounds need 12 sources, as no participant sees two conditions of one source),
# DEMO_STEPS (120: the faces zoo is attributed 100 % from step 110 on), DEMO_CONDITIONS (clean,jpeg:q=50,mirror),
# DEMO_PARTICIPANTS (4), DEVICE (auto).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-8000}
BUNDLE=${DEMO_BUNDLE:-demo_bundle}
scripts/setup.sh all
build() {
  .venv-pipeline/bin/python -m reconstruction_pipeline build --zoo faces \
    --targets-per-generator "${DEMO_TARGETS:-4}" --attempts 3 --steps "${DEMO_STEPS:-120}" --distance pixel \
    --conditions "${DEMO_CONDITIONS:-clean,jpeg:q=50,mirror}" \
    --display-size 256 --seed 0 --device "${DEVICE:-auto}" --out "$BUNDLE"
}
echo "demo: building the stimulus bundle in $BUNDLE (faces zoo, pixel distance, ${DEMO_STEPS:-120} steps, conditions ${DEMO_CONDITIONS:-clean,jpeg:q=50,mirror}) ..."
if ! build; then
  # A bundle from another configuration (other settings, retrained weights) is refused by the pipeline; for the
  # demo's own generated bundle, keep the old one aside and build afresh.
  if [ -f "$BUNDLE/.work/config.json" ]; then
    aside="$BUNDLE.previous-$(date +%Y%m%d-%H%M%S)"
    echo "demo: $BUNDLE was built with another configuration; moved it to $aside and rebuilding"
    mv "$BUNDLE" "$aside"
    build
  else
    exit 1
  fi
fi
.venv-pipeline/bin/python -m reconstruction_pipeline evaluate "$BUNDLE" --out "$BUNDLE/evaluation" | tail -n 12
export STUDY_BUNDLE="$PWD/$BUNDLE"
export OTREE_REST_KEY=${OTREE_REST_KEY:-demo-rest-key}
exec .venv/bin/python scripts/serve_demo.py --port "$PORT" --participants "${DEMO_PARTICIPANTS:-4}"
