"""A version-2 bundle (docs/contracts.md, conditions addendum) the whole way, as a real study runs it: the pipeline's CLI builds
a tiny-zoo bundle under three conditions (clean, JPEG q=50 through Pillow, mirroring) -> the study on prodserver + PostgreSQL + nginx -> three protocol-level bots and one chromium
participant -> the export through oTree's REST API -> ``python -m analysis report`` -> ``by_condition`` (and the
top-level keys) equal a plain computation from the export and the bundle. On the way: every served round keeps the
study rules (no source twice, conditions within one per participant, clean practice, placebo copies = the target
as shown) and nothing naming a condition or a source reaches a participant (the bots' received bytes and every
response and websocket frame the chromium participant got)."""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.bundle import Bundle, read_bundle
from contracts.conditions import CLEAN
from contracts.responses import check_against_bundle, parse_responses
from contracts.summary import read_summary
from study_app.wire import BlockingParticipant, Shown
from tests.e2e.test_end_to_end import ROUNDS, Truth, build_tiny_bundle, live_study_on, play_in_chromium
from tests.helpers.plain_summary import plain_by_condition, plain_summary
from tests.study_live.browser import Received
from tests.study_live.live import LiveStudy, secret_needles

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
CONDITIONS = ("clean", "jpeg:q=50", "mirror")
MIN_VOTES = 1


@pytest.fixture(scope="module")
def v2_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """3 sources per generator x 3 conditions: 9 sources = ROUNDS + 1 practice round, every participant sees each
    source once (the tightest the rules allow)."""
    bundle = build_tiny_bundle(tmp_path_factory.mktemp("e2e-cond") / "bundle", targets=3, steps=40, seed=5,
                               conditions=CONDITIONS)
    assert bundle.manifest.schema_version == 2 and bundle.manifest.condition_names == CONDITIONS
    return bundle


@pytest.fixture(scope="module")
def live(v2_bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStudy]:
    yield from live_study_on(v2_bundle, tmp_path_factory.mktemp("e2e-cond-otree"))


def test_version_2_bundle_study_export_report(live: LiveStudy, v2_bundle: Bundle, tmp_path: Path) -> None:
    truth = Truth(v2_bundle)
    target = {t.target_id: t for t in v2_bundle.targets}
    shown_by: dict[str, list[Shown]] = {}

    truthful, closest, careless, middle = truth.truthful, truth.closest, truth.careless, truth.middle

    session, starts = live.new_session(4, rounds=ROUNDS, practice_rounds=1, placebo_probability=0.25,
                                       votes_per_target=1, completion_code="E2E-DONE")
    needles = secret_needles(v2_bundle)
    assert "jpeg:q=50" in needles and "mirror" in needles and v2_bundle.targets[0].source_target.lower() in needles
    for start, policy in zip(starts[:3], (truthful, closest, careless)):
        with BlockingParticipant(start) as bot:
            bot.start()
            bot.submit(consent="1", prolific_study_id="", prolific_session_id="")
            bot.submit()
            practice = bot.play(policy)
            main = bot.play(policy)
            assert {s.phase for s, _ in practice} == {"practice"} and {s.phase for s, _ in main} == {"main"}
            shown_by[bot.code] = [s for s, _ in practice + main]
            assert "E2E-DONE" in bot.html
            leaks = [n for n in needles if any(n in blob.lower() for blob in bot.received)]
            assert not leaks, f"ground truth reached a participant: {leaks}"
    received = Received()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        code, played = pool.submit(play_in_chromium, starts[3], middle, received).result()
    # every byte the chromium participant received: no condition name, source id, generator id or label, target id
    assert len(received.http) > 20 and len(received.frames) > 2 * ROUNDS
    hits = received.find(needles)
    assert not hits, "leaked to the browser:\n" + "\n".join(f"{n!r} in {w}: ...{c}..." for n, w, c in hits[:10])

    # --- what each protocol bot was shown keeps the study rules
    for code_, shown in shown_by.items():
        served = [target[truth.target(s)] for s in shown]
        assert len({t.source_target for t in served}) == len(served), f"{code_} saw one source twice"
        assert [t.condition for t, s in zip(served, shown) if s.phase == "practice"] == [CLEAN]
        counts = Counter(t.condition for t, s in zip(served, shown) if s.phase == "main")
        assert max(counts.values()) - min(counts.values()) <= 1 and set(counts) == set(CONDITIONS), counts
        for s in shown:  # a placebo row repeats the target as shown: its own (perturbed when it is) display image
            copies = [u for u in s.images if u == s.target]
            assert len(copies) in (0, 3)
            assert s.target.rsplit("/", 1)[-1] == Path(target[truth.target(s)].image).name

    # --- the export, as downloaded, holds the bundle's conditions
    export = tmp_path / "responses.csv"
    export.write_text(live.server.rest("GET", f"/api/export_app_custom?app=study_app&session_code={session}")
                      .decode())
    responses = parse_responses(export.read_text(), export)
    check_against_bundle(responses, read_bundle(v2_bundle.root), export)
    assert len(responses) == 4 * ROUNDS and {r.condition for r in responses} == set(CONDITIONS)
    browser_rows = [r for r in responses if r.participant_code == code]
    assert len(browser_rows) == ROUNDS and len({target[r.target_id].source_target for r in browser_rows}) == ROUNDS

    # --- the report, as an analyst runs it
    out = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "analysis", "report", "--bundle", str(v2_bundle.root),
                           "--responses", str(export), "--out", str(out), "--min-votes", str(MIN_VOTES),
                           "--bootstrap", "100"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = read_summary(out / "summary.json")
    expected = plain_by_condition(v2_bundle.root, export, threshold=0.8, min_votes=MIN_VOTES)
    assert list(summary["by_condition"]) == list(CONDITIONS)
    assert all(v["votes_total"] > 0 for v in expected.values())
    for cond, values in expected.items():
        for key, value in values.items():
            assert summary["by_condition"][cond][key] == (pytest.approx(value, abs=1e-12) if isinstance(value, float)
                                                          else value), (cond, key)
    top = plain_summary(v2_bundle.root, export, threshold=0.8, min_votes=MIN_VOTES)
    for key, value in top.items():
        assert summary[key] == (pytest.approx(value, abs=1e-12) if isinstance(value, float) else value), key
    assert summary["participants_valid"] == 3                       # the careless bot is excluded
    assert "Robustness: people vs algorithm" in (out / "report.html").read_text(encoding="utf-8")
