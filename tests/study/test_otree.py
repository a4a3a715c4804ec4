"""The app under oTree itself: `otree test` bots (every page, SubmissionMustFail cases, tampering, leak checks),
the custom export read back through the contract, session-creation errors, and the production guard."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.bundle import read_bundle
from contracts.responses import check_against_bundle, read_responses
from tests.helpers import make_bundle

ROOT = Path(__file__).resolve().parents[2]
OTREE = str(Path(sys.executable).with_name("otree"))
ROUNDS = 24


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTREE_", "STUDY_", "STIMULUS_", "DATABASE_URL"))}
    env.update(STIMULUS_BASE_URL="/stimuli-test/", STUDY_ROUNDS=str(ROUNDS), **extra)
    return env


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The oTree project linked into an empty folder: oTree loads any db.sqlite3 in its working directory into
    the bots' database, so a devserver's leftovers in the repository root must not leak into these tests."""
    where = tmp_path_factory.mktemp("project")
    for name in ("settings.py", "study_app", "contracts", "_static", "_templates"):
        (where / name).symlink_to(ROOT / name)
    return where


def _otree(project: Path, *args: str, env: dict[str, str], timeout: int = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OTREE, *args], cwd=project, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def bot_run(tmp_path_factory: pytest.TempPathFactory, project: Path) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    tmp = tmp_path_factory.mktemp("bots")
    bundle = make_bundle(tmp, n_targets=ROUNDS + 6, generators=("dcgan", "stylegan", "progan"), attempts=3)
    export = tmp / "export"
    proc = _otree(project, "test", "attribution_study", "3", "--export", str(export),
                  env=_env(STUDY_BUNDLE=str(bundle.root)))
    return bundle.root, export, proc


def test_bots_play_every_page_with_must_fail_cases(bot_run: tuple[Path, Path, subprocess.CompletedProcess[str]]
                                                   ) -> None:
    _, _, proc = bot_run
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and out.count("Bots completed session") == 2, out[-3000:]
    for page in ("Consent", "Instructions", "Practice", "Rounds", "Completion"):
        assert f"/study/{page}/" in out
    assert out.count("SubmissionMustFail") >= 3 * 2 * 3  # consent, practice, rounds; 3 bots; 2 cases


def test_custom_export_reads_back_through_the_contract(bot_run: tuple[Path, Path, subprocess.CompletedProcess[str]]
                                                       ) -> None:
    bundle_root, export, proc = bot_run
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    path = export / "study_app_custom.csv"
    responses = read_responses(path)
    check_against_bundle(responses, read_bundle(bundle_root), path)
    # 2 cases x 3 participants x ROUNDS real rounds; practice rounds are not exported; nothing counted twice
    assert len(responses) == 2 * 3 * ROUNDS
    per_participant: dict[str, list[int]] = {}
    for r in responses:
        per_participant.setdefault(r.participant_code, []).append(r.round_number)
        assert len(r.row_order) == 3 and r.response_ms == 1234.5
    assert all(sorted(v) == list(range(1, ROUNDS + 1)) for v in per_participant.values())
    assert all(any(r.is_placebo for r in responses if r.participant_code == p) for p in per_participant)
    targets = {}
    for r in responses:  # never the same target twice to one participant
        assert (r.participant_code, r.target_id) not in targets
        targets[(r.participant_code, r.target_id)] = r


@pytest.mark.parametrize("problem, make, expected", [
    ("one generator", dict(generators=("dcgan",)), "at least 2 generators"),
    ("two attempts", dict(attempts=2), "3 attempts per row"),
    ("too few targets", dict(n_targets=5), "need at least that many targets"),
])
def test_session_creation_rejects_bad_bundles(tmp_path: Path, project: Path, problem: str, make: dict, expected: str) -> None:
    args = dict(n_targets=ROUNDS + 6, generators=("dcgan", "stylegan"), attempts=3)
    args.update(make)
    bundle = make_bundle(tmp_path, **args)  # type: ignore[arg-type]
    proc = _otree(project, "test", "attribution_study", "1", env=_env(STUDY_BUNDLE=str(bundle.root)))
    out = proc.stdout + proc.stderr
    assert "StudyConfigError" in out and expected in out, out[-2000:]
    assert "Bots completed session" not in out


def test_session_creation_rejects_missing_bundle(tmp_path: Path, project: Path) -> None:
    proc = _otree(project, "test", "attribution_study", "1", env=_env(STUDY_BUNDLE=str(tmp_path / "nope")))
    out = proc.stdout + proc.stderr
    assert "no such bundle directory" in out and "Bots completed session" not in out


STRONG = {"OTREE_ADMIN_PASSWORD": "p" * 12, "OTREE_AUTH_LEVEL": "STUDY", "OTREE_SECRET_KEY": "k" * 32,
          "OTREE_REST_KEY": "r" * 16}


@pytest.mark.parametrize("env, missing", [
    ({}, "OTREE_ADMIN_PASSWORD is not set"),
    ({**STRONG, "OTREE_AUTH_LEVEL": "DEMO"}, "OTREE_AUTH_LEVEL is 'DEMO'"),
    ({**STRONG, "OTREE_SECRET_KEY": ""}, "OTREE_SECRET_KEY is missing"),
])
def test_production_refuses_to_start_without_secrets(project: Path, env: dict[str, str], missing: str) -> None:
    proc = _otree(project, "prodserver", "127.0.0.1:8999", env=_env(**env), timeout=60)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith("refusing to start in production: " + missing)


def test_production_flag_alone_triggers_the_guard() -> None:
    proc = subprocess.run([sys.executable, "-c", "import settings"], cwd=ROOT, capture_output=True, text=True,
                          env=_env(OTREE_PRODUCTION="1"), timeout=60)
    assert proc.returncode != 0 and "refusing to start in production" in proc.stderr
    ok = subprocess.run([sys.executable, "-c", "import settings"], cwd=ROOT, capture_output=True, text=True,
                        env=_env(OTREE_PRODUCTION="1", **STRONG), timeout=60)
    assert ok.returncode == 0, ok.stderr
