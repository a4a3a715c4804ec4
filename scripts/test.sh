#!/usr/bin/env bash
# The project's test command: the README's second command, and exactly what .ci/run calls.
# Installs everything itself (both venvs, Debian's chromium/postgresql/nginx), then runs the whole suite:
#   pipeline tests in .venv-pipeline (torch), study/analysis/end-to-end tests in .venv (oTree).
# Extra arguments go to both pytest runs (e.g. scripts/test.sh -k bundle -x).
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh all --system || { echo "setup failed"; exit 1; }
rm -rf test-results && mkdir -p test-results
existing() { for d in "$@"; do [ -e "$d" ] && echo "$d"; done; }
rc=0
pipeline_tests=$(existing tests/contracts tests/zoo tests/pipeline bench/test_reconstruction_bench.py bench/test_attacks_bench.py)
study_tests=$(existing tests/contracts tests/study tests/study_live tests/security tests/analysis tests/e2e tests/provenance bench/test_study_load.py)
echo "== pipeline environment: $pipeline_tests"
# shellcheck disable=SC2086
.venv-pipeline/bin/python -m pytest $pipeline_tests --junitxml=test-results/pipeline.xml "$@" || rc=$?
echo "== study/analysis environment: $study_tests"
# shellcheck disable=SC2086
.venv/bin/python -m pytest $study_tests --junitxml=test-results/study.xml "$@" || rc=$?
echo "== type check (mypy)"
.venv-pipeline/bin/python -m mypy contracts reconstruction_pipeline || rc=$?
.venv/bin/python -m mypy analysis study_app settings.py deploy harness provenance || rc=$?
.venv/bin/python scripts/junit_total.py test-results/*.xml || rc=$?
exit $rc
