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
# --siblings: a hard study instead: the `siblings` zoo (four look-alikes of one DCGAN, told apart only by the
# fingerprint of their fine-tuning data; seed reconstruction errs on them), 3 targets per generator, clean only,
# bundle in demo_bundle_siblings (DEMO_BUNDLE, DEMO_TARGETS, DEMO_STEPS, DEMO_CONDITIONS still override).
set -euo pipefail
cd "$(dirname "$0")/.."
ZOO=faces
for arg in "$@"; do
  case "$arg" in
    --siblings) ZOO=siblings ;;
    *) echo "demo: unknown option $arg (the only option is --siblings)" >&2; exit 2 ;;
  esac
done
if [ "$ZOO" = siblings ]; then
  BUNDLE=${DEMO_BUNDLE:-demo_bundle_siblings}
  TARGETS=${DEMO_TARGETS:-3}
  CONDITIONS=${DEMO_CONDITIONS:-clean}
else
  BUNDLE=${DEMO_BUNDLE:-demo_bundle}
  TARGETS=${DEMO_TARGETS:-4}
  CONDITIONS=${DEMO_CONDITIONS:-clean,jpeg:q=50,mirror}
fi
PORT=${PORT:-8000}
scripts/setup.sh all
# A busy port (a demo already running?) is refused here, before the build: a rebuild may move the live bundle aside.
.venv/bin/python -c 'import sys; from deploy.launcher import port_in_use; p = int(sys.argv[1]); sys.exit(f"demo: port {p} is already in use (another demo or server?): stop it, or run with PORT=<free port> scripts/demo.sh" if port_in_use("127.0.0.1", p) else 0)' "$PORT"
build() {
  .venv-pipeline/bin/python -m reconstruction_pipeline build --zoo "$ZOO" \
    --targets-per-generator "$TARGETS" --attempts 3 --steps "${DEMO_STEPS:-120}" --distance pixel \
    --conditions "$CONDITIONS" \
    --display-size 256 --seed 0 --device "${DEVICE:-auto}" --out "$BUNDLE"
}
echo "demo: building the stimulus bundle in $BUNDLE ($ZOO zoo, pixel distance, ${DEMO_STEPS:-120} steps, conditions $CONDITIONS) ..."
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
