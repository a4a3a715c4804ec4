#!/usr/bin/env bash
# Creates the project's two Python environments inside the repository and installs everything they need.
#   .venv           study server (oTree) + analysis + test tools      (requirements.txt, requirements-test.txt)
#   .venv-pipeline  reconstruction pipeline (torch, torchvision, Ray) (requirements-pipeline.txt)
# oTree pins starlette 0.14 / markupsafe 1.1.1 / sqlalchemy 1.3, which torch's dependencies cannot share, hence two.
# Idempotent: a stamp (hash of the requirement files) skips pip when nothing changed.
#   scripts/setup.sh [study|pipeline|all] [--system]   --system also installs Debian packages (chromium, postgresql)
set -euo pipefail
cd "$(dirname "$0")/.."
# pip warns about optional local index folders this machine's pip.conf names; hide only that line.
pip_quiet() { "$@" 2> >(grep -v "^WARNING: Location '" >&2); }
PY=${PYTHON:-python3}
what=${1:-all}
system=0
for a in "$@"; do [ "$a" = "--system" ] && system=1; done
mkdir -p .setup-stamps

need() {  # need NAME VENV FILES... : true when VENV is missing or the stamp for NAME differs from the hash of FILES
  local name=$1 venv=$2; shift 2
  local h; h=$(cat "$@" scripts/setup.sh | sha256sum | cut -c1-16)
  echo "$h" > ".setup-stamps/$name.new"
  [ ! -x "$venv/bin/python" ] || [ "$(cat ".setup-stamps/$name" 2>/dev/null)" != "$h" ]
}
done_stamp() { mv ".setup-stamps/$1.new" ".setup-stamps/$1"; }

if [ "$system" = 1 ]; then
  missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  command -v pg_ctlcluster >/dev/null || [ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql)
  command -v nginx >/dev/null || missing+=(nginx-light)
  "$PY" -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)  # Debian's python3 lacks venv without it
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

if [ "$what" = study ] || [ "$what" = all ]; then
  if need study .venv requirements.txt requirements-test.txt; then
    echo "setup: installing the study/analysis environment (.venv) ..."
    [ -x .venv/bin/python ] || "$PY" -m venv .venv
    pip_quiet .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-test.txt
    pip_quiet .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps crowd-kit==1.4.2
    done_stamp study
  fi
fi
if [ "$what" = pipeline ] || [ "$what" = all ]; then
  if need pipeline .venv-pipeline requirements-pipeline.txt requirements-test.txt; then
    echo "setup: installing the pipeline environment (.venv-pipeline; torch installs from local disk, ~2-5 min) ..."
    [ -x .venv-pipeline/bin/python ] || "$PY" -m venv .venv-pipeline
    pip_quiet .venv-pipeline/bin/python -m pip install -q --disable-pip-version-check -r requirements-pipeline.txt \
      -r requirements-test.txt
    pip_quiet .venv-pipeline/bin/python -m pip install -q --disable-pip-version-check --no-deps gan-face-generate==1.1.1 torchattacks==3.5.1
    done_stamp pipeline
  fi
fi
# The project's packages on each environment's path (a .pth file), so `python -m analysis ...` works anywhere.
for v in .venv .venv-pipeline; do
  if [ -x "$v/bin/python" ]; then
    site=$("$v/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$PWD" > "$site/deepfake_attribution_study.pth"
  fi
done
