#!/usr/bin/env bash
# Mutation testing (mutmut 3.x) of the cores users rely on, one module at a time, in bounded time on 2 cores.
#
#   scripts/mutants.sh                      # every module below, each capped at $MUTANTS_CAP_S seconds (default 900)
#   scripts/mutants.sh contracts votes      # only these modules
#   MUTANTS_CAP_S=300 MUTANTS_JOBS=1 scripts/mutants.sh agreement
#
# Each module runs in its own throwaway copy of the working tree (under $MUTANTS_DIR, default
# /tmp/mutants-<user>), niced, with only the tests that guard it, in the environment those tests need (torch modules
# under .venv-pipeline, oTree/analysis under .venv). A module that hits its cap stops there; its partial results are
# still counted. Output: per module a line "module: killed/total (score %), survived N, timeout T, not checked U"
# and the survivors' names; `mutmut show NAME` in that module's copy shows a survivor's diff.
# Not part of .ci/run (too slow). The reviewed survivors and the scores are in docs/testing.md and bench/RESULTS.md.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
CAP=${MUTANTS_CAP_S:-900}
JOBS=${MUTANTS_JOBS:-2}
WORK=${MUTANTS_DIR:-/tmp/mutants-$(id -un)}

# module -> "venv|paths to mutate (comma-separated)|tests (comma-separated)"
declare -A MODULES=(
  [contracts]=".venv|contracts|tests/contracts"
  [votes]=".venv|analysis/votes.py|tests/analysis/test_hand.py,tests/analysis/test_boundaries.py"
  [agreement]=".venv|analysis/agreement.py|tests/analysis/test_hand.py,tests/analysis/test_boundaries.py"
  [statistics]=".venv|analysis/statistics.py,analysis/bootstrap.py,analysis/models.py|tests/analysis/test_statistics.py,tests/analysis/test_hand.py,tests/analysis/test_boundaries.py"
  [allocation]=".venv|study_app/allocation.py,study_app/rounds.py,study_app/session_state.py|tests/study/test_allocation.py,tests/study/test_rounds.py,tests/study/test_dynamic_allocation.py,tests/study/test_allocation_edges.py,--deselect=tests/study/test_dynamic_allocation.py::test_the_analysis_loads_the_rules_without_otree"
  [reconstruct]=".venv-pipeline|reconstruction_pipeline/reconstruct.py,reconstruction_pipeline/attribution.py|tests/pipeline/test_reconstruct.py,tests/pipeline/test_reconstruct_contract.py,tests/pipeline/test_attribute.py"
  [targets]=".venv-pipeline|reconstruction_pipeline/targets.py|tests/pipeline/test_targets_seeds.py,tests/pipeline/test_targets_contract.py,tests/pipeline/test_resume_count.py,tests/pipeline/test_conditions_build.py,tests/pipeline/test_attribute.py::test_user_image_is_read_exactly,tests/pipeline/test_attribute.py::test_attribution_is_eq5_and_independent_of_other_images,tests/pipeline/test_cli_errors.py::test_attribute_bad_images"
  [perturbations]=".venv-pipeline|reconstruction_pipeline/perturbations|tests/pipeline/test_perturbations.py,tests/pipeline/test_perturbation_contracts.py"
)
# A test list may name single tests (pytest node ids without commas) and pytest options: `targets` leaves out
# test_attribute.py's 22 s CLI run, which reaches load_user_image too but would be rerun for every surviving mutant;
# `allocation` leaves out the tests that run the code in a subprocess (mutmut sees only calls in the pytest process,
# and one of them clears the environment mutmut's mutated code needs): test_allocation_app.py's `otree test` bots and
# the analysis's import check.
ORDER=(contracts votes agreement statistics allocation reconstruct targets perturbations)
[ $# -gt 0 ] && ORDER=("$@")

# the CLI as its console script runs it (python -m mutmut would import mutmut.__main__ twice)
MUTMUT='import sys; sys.argv[0] = "mutmut"; from mutmut.__main__ import cli; cli()'
toml_list() { local IFS=,; local out="" x; for x in $1; do out+="\"$x\", "; done; echo "[${out%, }]"; }

summary=()
for name in "${ORDER[@]}"; do
  spec=${MODULES[$name]:-}
  if [ -z "$spec" ]; then echo "unknown module '$name'; choose from: ${!MODULES[*]}" >&2; exit 2; fi
  IFS='|' read -r venv paths tests <<<"$spec"
  py="$REPO/$venv/bin/python"
  [ -x "$py" ] || { echo "$venv is missing: run scripts/setup.sh first" >&2; exit 2; }
  dir="$WORK/$name"
  rm -rf "$dir" && mkdir -p "$dir"
  # the working tree as git sees it (tracked + untracked, not ignored), without the venvs
  git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$dir"
  # this module's configuration replaces the project-wide [tool.mutmut] table (mutmut reads only one)
  "$py" - "$dir/pyproject.toml" "$(toml_list "$paths")" "$(toml_list "$tests")" <<'EOF'
import re, sys
path, paths, tests = sys.argv[1:]
text = re.sub(r"\n\[tool\.mutmut\]\n(?:(?!\n\[).)*", "\n", open(path).read(), flags=re.S)
# everything else the tests import, file by file where a package holds mutated files (mutmut copies also_copy
# after writing the mutants, so a copied package would overwrite them)
from pathlib import Path
root = Path(path).parent
mutated = [root / p for p in eval(paths)]
def hit(f: Path) -> bool:
    return any(f == m or m in f.parents for m in mutated)
also = []
# every top-level package and module of the copy (the venvs' .pth puts the main checkout on sys.path, so one left
# out here would be imported from there, not from this tree), and the templates oTree reads
tops = sorted(e.name for e in root.iterdir()
              if e.name not in ("tests", "mutants", "docs", "scripts")
              and ((e.is_dir() and (e / "__init__.py").exists()) or e.suffix == ".py"
                   or e.name in ("_static", "_templates", "bench")))
for top in tops:
    entry = root / top
    if not any(m == entry or entry in m.parents for m in mutated):
        also.append(top)
        continue
    files = [f.relative_to(root) for f in sorted(entry.rglob("*")) if f.is_file() and not hit(f)]
    for f in files:  # mutmut copies single files into existing folders only
        (root / "mutants" / f.parent).mkdir(parents=True, exist_ok=True)
    also += [str(f) for f in files]
open(path, "w").write(text.rstrip() + f"\n\n[tool.mutmut]\npaths_to_mutate = {paths}\ntests_dir = {tests}\n"
                      f"also_copy = {also!r}\n".replace("'", '"'))
EOF
  # mutmut 3.3 reads pytest's item._nodeid, which pytest 9 no longer has (mutmut >= 3.4 needs click 8, which oTree's
  # uvicorn 0.13 refuses): a root conftest in the mutants folder puts it back
  mkdir -p "$dir/mutants"
  # and it times a test by its teardown alone (the last report wins), so its time limit, 15 x (that + 1 s), kills
  # slow but correct runs as "timeout": the conftest adds setup + call + teardown instead
  cat >"$dir/mutants/conftest.py" <<'PY'
import collections

import pytest

_spent: dict = collections.defaultdict(float)


def pytest_collection_modifyitems(items):
    for item in items:
        item.__dict__.setdefault("_nodeid", item.nodeid)


@pytest.hookimpl(trylast=True)
def pytest_runtest_makereport(item, call):
    import mutmut
    _spent[item.nodeid] += call.duration
    if item.nodeid in getattr(mutmut, "duration_by_test", {}):
        mutmut.duration_by_test[item.nodeid] = _spent[item.nodeid]
PY
  echo "== $name ($venv): mutating $paths, tests $tests, cap ${CAP}s, $JOBS jobs"
  start=$(date +%s)
  # PYTHONPATH must not point at the checkout: the tests have to import the mutated copy in mutants/
  # one intra-op thread: mutmut forks its workers after the tests have run torch once, and a forked child of a
  # process whose OpenMP pool is up can hang in its first parallel op (every `reconstruct` mutant "timed out" so)
  (cd "$dir" && env -u PYTHONPATH OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 timeout --signal=INT --kill-after=30 "$CAP" nice -n 10 \
      "$py" -c "$MUTMUT" run --max-children "$JOBS" >"$dir/run.log" 2>&1)
  rc=$?
  took=$(( $(date +%s) - start ))
  (cd "$dir" && env -u PYTHONPATH "$py" -c "$MUTMUT" results --all true >"$dir/results.txt" 2>&1)
  line=$("$py" - "$dir/results.txt" "$name" "$took" "$rc" <<'EOF'
import collections, sys
path, name, took, rc = sys.argv[1:]
status = collections.Counter()
survivors = []
for row in open(path):
    if ": " not in row:
        continue
    mutant, st = row.strip().rsplit(": ", 1)
    status[st] += 1
    if st == "survived":
        survivors.append(mutant)
killed, survived, timeout = status["killed"], status["survived"], status["timeout"]
total = sum(status.values())
not_checked = total - killed - survived - timeout - status["suspicious"] - status["no tests"]
# a timeout is reported, not counted as a kill: on a loaded 2-core machine most are the time limit, not the mutant
score = f"{100 * killed / (killed + survived):.1f} %" if killed + survived else "n/a"
print(f"{name}: score {score} (killed {killed}, survived {survived}), timeout {timeout}, "
      f"no tests {status['no tests']}, not checked {not_checked} of {total} mutants; {took} s"
      f"{' (capped)' if rc in ('124', '130') else ''}")
for s in survivors:
    print(f"    survived: {s}")
EOF
)
  echo "$line"
  summary+=("$line")
done
echo "== summary"
printf '%s\n' "${summary[@]}" | grep -v "^    "
