"""The attribution user study (paper §VI-D) as one oTree app.

PROTOCOL (stable; the live tests and the load bench rely on it)
=================================================================

Page sequence: ``Consent -> Instructions -> Practice (only if practice_rounds > 0) -> Rounds -> Completion``.
Every page is a normal oTree page (``/p/<participant code>/study/<Page>/<index>``). ``Consent`` posts the form
fields ``consent`` (must be true), ``prolific_study_id`` and ``prolific_session_id`` (hidden, may be empty; filled
from the room link's ``STUDY_ID``/``SESSION_ID``). ``Practice`` and ``Rounds`` are single pages driven by
``live_method`` (oTree's ``liveSend``/``liveRecv`` websocket); they refuse a form submit until all of their rounds
are answered (the page JS submits the form itself once the server says ``done``). ``Completion`` shows the
completion code and redirects to the configured completion URL.

Live messages, browser -> server (a JSON object):

- ``{"type": "state"}`` -- "where am I?"; sent on every page load and websocket (re)connect.
- ``{"type": "answer", "round": R, "token": T, "choice": S, "response_ms": MS}`` -- the answer to round ``R``
  whose opaque ``token`` was ``T``; ``S`` is the slot clicked, 1..rows*3 (1..9 with 3 generators), numbered row
  by row, left to right; ``MS`` the browser-measured milliseconds from all images decoded and shown to the click.

Server -> browser:

- ``{"type": "round", "phase": "practice"|"main", "round": R, "of": N, "token": T, "rows": n, "cols": 3,
  "target": URL, "images": [URL x rows*cols, slot order], "preload": [URLs of round R+1]}``
- ``{"type": "done", "phase": ...}`` -- every round of this page is answered; submit the page.
- ``{"type": "paused", "message": text}`` -- the session's bundle changed on disk since the session was created:
  nothing more is served; the page shows the message (the admin report names the changed file).
- ``{"type": "ack", "round": R, "duplicate": bool, "state": <round|done message>}`` -- the answer is stored
  (``duplicate``: it had already been stored, nothing counted twice). Practice acks also carry
  ``"feedback": {"correct": bool, "correct_slots": [slots of the source row]}`` (practice targets only).
- ``{"type": "error", "code": C, "message": text, "state": <round|done message>}`` with ``C`` one of
  ``bad_message`` (not an object / unknown type / bad response_ms), ``bad_choice`` (slot not 1..rows*3),
  ``not_served`` (round/token never served to this participant), ``conflict`` (a second, different answer).

URLs are ``<stimulus base URL><content-hash file name>``; nothing sent to the browser names a generator, the
truth, the attempt or whether the round is a placebo (a placebo row simply shows the target's URL three times).

Idempotence: a resent answer identical to the stored one is acked with ``duplicate: true``; answers for the
current round or any earlier round are looked up by (round, token). Refresh/back/reconnect: the page asks for
``state`` and resumes at the first unanswered round (the same token and layout as before).

Storage: one ``Trial`` row (ExtraModel) per served round, created lazily when the round is served (the current
round and the one after it, for preloading). The player holds counters and the ids of those two trials.
Session vars (SESSION_FIELDS, written once at creation): ``study_bundle`` (absolute path), ``study_fingerprint``,
``practice_targets`` (target indices reserved for practice: never used in real rounds of that session; clean
targets only).

Conditions (shared/design/conditions.md, study_app/conditions.py): with a version-2 bundle no participant is served
two targets of one source target, a participant's real rounds are spread evenly over the conditions (counts within
one), and practice uses clean targets; the export's ``condition`` column is the target's condition, stored on the
Trial. No condition name or source id is ever sent to the browser.
The allocation state (answers per target, and each participant's served-but-unanswered targets) is derived from
the Trial rows and kept in the server process between messages (study_app/session_state.py); an answer writes
only its own rows. PARTICIPANT_FIELDS: none (per-participant state is on the Player: small, no pickled blob).

Session config keys (settings.py; defaults in brackets): ``bundle`` [$STUDY_BUNDLE or ``demo_bundle``],
``rounds`` [120], ``practice_rounds`` [2], ``placebo_probability`` [0.05], ``allocation``
[``balanced``|``random``|``dynamic``],
``votes_per_target`` [3], ``dropout_timeout_s`` [600], ``completion_url`` [''], ``completion_code`` [''],
``consent_text`` [a default text], ``expected_minutes`` [0: computed from the rounds], ``stimulus_base_url`` ['' = $STIMULUS_BASE_URL or ``/static/stimuli/``],
``participation_fee`` [2.00 USD].

Environment: ``STUDY_BUNDLE`` (default bundle), ``STIMULUS_BASE_URL`` (where browsers fetch images; when unset,
session creation copies the bundle's images into ``_static/stimuli/``), plus oTree's own (settings.py).
"""

from __future__ import annotations

import hashlib
import math
import random
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otree.api import BaseConstants, BaseGroup, BasePlayer, BaseSubsession, ExtraModel, Page, models, widgets

from contracts.bundle import MANIFEST_FILE, RECONSTRUCTIONS_FILE, TARGETS_FILE
from contracts.responses import EXPORT_COLUMNS, PLACEBO, is_correct, make_response
from study_app import allocation, conditions, rounds, session_state, stimuli
from study_app.csv_safety import neutralise
from study_app.rounds import AnswerError, Layout
from deploy.gate import MIN_SCREEN, RoomRule
from study_app.session_state import SessionState, TrialRow
from study_app.stimuli import Study, StudyConfigError

doc = """Which reconstruction looks most like the target? The deepfake-attribution user study (paper §VI-D)."""

DEFAULT_CONSENT = (
    "You are invited to take part in a research study on how people compare images. You will see an image "
    "and nine similar images, and pick the one that looks most like it, for a number of rounds. There are no "
    "known risks. Participation is voluntary and you may stop at any time. We record your choices and response "
    "times together with your platform ID; results are published only in aggregate."
)


class C(BaseConstants):
    NAME_IN_URL = "study"
    PLAYERS_PER_GROUP = None  # oTree refuses 1; creating_session puts each player in a group of its own
    NUM_ROUNDS = 1


class Subsession(BaseSubsession):
    pass


class Group(BaseGroup):
    pass


class Player(BasePlayer):
    consent = models.BooleanField(  # no initial value: neither answer is preselected
        label="I have read the information above and agree to take part.",
        choices=[[True, "Yes, I agree to take part"], [False, "No, I do not want to take part"]],
        widget=widgets.RadioSelect)
    prolific_study_id = models.StringField(blank=True, initial="")
    prolific_session_id = models.StringField(blank=True, initial="")
    placebo_rounds = models.StringField(initial="")   # "3,57": 1-based placebo rounds of this participant
    seen = models.LongStringField(initial="")         # target indices served to this participant (any phase)
    practice_done = models.IntegerField(initial=0)
    rounds_done = models.IntegerField(initial=0)
    cur_trial_id = models.IntegerField(initial=0)     # first unanswered served trial of the current phase
    next_trial_id = models.IntegerField(initial=0)    # the one after it (served for preloading)
    started_rounds_at = models.FloatField(blank=True)
    finished_at = models.FloatField(blank=True)


class Trial(ExtraModel):
    """One served round. Ground truth columns never leave the server."""

    player = models.Link(Player)
    phase = models.StringField()           # "practice" | "main"
    round_number = models.IntegerField()
    token = models.StringField()
    target_index = models.IntegerField()
    target_id = models.StringField()
    true_generator = models.StringField()
    condition = models.StringField()       # the target's condition (bundle), copied into the export
    is_placebo = models.BooleanField()
    row_order = models.StringField()       # contract format: "|"-joined, PLACEBO for the copies row
    layout = models.StringField()          # Layout.encode(): slot -> "generator:attempt"
    served_at = models.FloatField()        # server unix time the trial was created (allocated)
    shown_at = models.FloatField()         # server unix time it was first sent as the current round
    answered_at = models.FloatField()
    choice = models.IntegerField()         # slot 1..n (None until answered)
    chosen_generator = models.StringField()
    chosen_attempt = models.IntegerField()
    response_ms = models.FloatField()      # browser-measured


# --------------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class StudySettings:
    bundle: str
    rounds: int
    practice_rounds: int
    placebo_probability: float
    allocation: str
    votes_per_target: int
    dropout_timeout_s: float
    completion_url: str
    completion_code: str
    stimulus_base_url: str


def study_settings(config: Any) -> StudySettings:
    """Validate a session config; raises StudyConfigError with one line naming the key and what is allowed."""

    def integer(key: str, low: int) -> int:
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise StudyConfigError(f"session config {key!r} must be an integer >= {low}, got {value!r}")
        return value

    def number(key: str, low: float, high: float) -> float:
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise StudyConfigError(f"session config {key!r} must be a number in [{low}, {high}], got {value!r}")
        return float(value)

    mode = config.get("allocation", "balanced")
    if mode not in allocation.MODES:
        raise StudyConfigError(f"session config 'allocation' must be one of {', '.join(allocation.MODES)}, "
                               f"got {mode!r}")
    bundle = config.get("bundle")
    if not isinstance(bundle, str) or not bundle.strip():
        raise StudyConfigError("session config 'bundle' must name a stimulus bundle directory (or set STUDY_BUNDLE)")
    return StudySettings(
        bundle=bundle, rounds=integer("rounds", 1), practice_rounds=integer("practice_rounds", 0),
        placebo_probability=number("placebo_probability", 0.0, 1.0), allocation=mode,
        votes_per_target=integer("votes_per_target", 1),
        dropout_timeout_s=number("dropout_timeout_s", 1.0, 7 * 24 * 3600.0),
        completion_url=str(config.get("completion_url") or ""), completion_code=str(config.get("completion_code") or ""),
        stimulus_base_url=str(config.get("stimulus_base_url") or ""),
    )


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def creating_session(subsession: Subsession) -> None:
    """Validate the config and the bundle (one clear error in the admin), set up allocation and placebo rounds."""
    session = subsession.session
    cfg = study_settings(session.config)
    study = stimuli.load_study(cfg.bundle)
    n_targets = len(study.target_ids)
    n_sources = len(study.source_members)
    if cfg.rounds + cfg.practice_rounds > n_sources:
        what = "targets" if n_sources == n_targets else "source targets (no participant sees two conditions of one)"
        raise StudyConfigError(f"{study.root}: {cfg.rounds} rounds + {cfg.practice_rounds} practice rounds need at "
                               f"least that many {what}; the bundle has {n_sources}")
    practice_pool = conditions.practice_pool(study.condition_of, study.clean_index)
    if cfg.practice_rounds > len(practice_pool):
        raise StudyConfigError(f"{study.root}: practice rounds use clean targets only and the bundle has "
                               f"{len(practice_pool)}; set practice_rounds to at most that")
    if not (cfg.stimulus_base_url or stimuli.base_url() != stimuli.DEV_BASE_URL):
        stimuli.publish(study)  # development: serve the images from oTree's _static/stimuli/
    rng = random.Random(f"{session.code}|setup")
    session.study_bundle = str(study.root)
    session.study_fingerprint = study.fingerprint
    session.study_files = bundle_digests(study.root)
    session.practice_targets = sorted(rng.sample(practice_pool, cfg.practice_rounds))
    players = subsession.get_players()
    for player in players:
        prng = random.Random(f"{session.code}|{player.participant.code}|placebo")
        schedule = rounds.placebo_schedule(cfg.rounds, cfg.placebo_probability, prng)
        player.placebo_rounds = ",".join(map(str, schedule))
    _one_group_per_player(subsession, players)


def _one_group_per_player(subsession: Subsession, players: list[Player]) -> None:
    """Put each player in a group of its own, in bulk.

    oTree reads every player of the sender's group on each live message, so in the default single group of N
    players every answer would read N rows. oTree refuses PLAYERS_PER_GROUP = 1 and its set_group_matrix issues
    several statements per group (4 s for 300 players here), hence one bulk insert and one bulk update.
    The original, now empty, group row is left in place.
    """
    from otree.database import db
    orm = db._db  # the request's SQLAlchemy session (oTree's DBWrapper has no flush/bulk helpers)
    groups = [Group(session=subsession.session, subsession=subsession, round_number=subsession.round_number,
                    id_in_subsession=i) for i in range(1, len(players) + 1)]
    db.add_all(groups)
    orm.flush()
    orm.bulk_update_mappings(Player, [{"id": p.id, "group_id": g.id, "id_in_group": 1}
                                      for p, g in zip(players, groups)])
    orm.expire_all()


def vars_for_admin_report(subsession: Subsession) -> dict[str, Any]:
    session = subsession.session
    changed = bundle_changes(session)
    try:
        st = session_state.get(session.code) or _rebuild_state(session)
        _study_of(st)
    except StudyConfigError as e:
        return dict(paused=True, bundle_changes=changed or [str(e)], bundle=_svars(session)["study_bundle"])
    cfg = st.settings
    practice = set(st.practice_targets)
    votes = [v for i, v in enumerate(st.votes) if i not in practice]  # practice targets get no votes
    reached = sum(1 for v in votes if v >= cfg.votes_per_target)
    settled = sum(1 for i, c in enumerate(st.tallies)
                  if i not in practice and allocation.settled(c, cfg.votes_per_target))
    return dict(paused=False, bundle_changes=changed, bundle=_svars(session)["study_bundle"], n_targets=len(votes),
                votes_total=sum(votes), votes_per_target=cfg.votes_per_target,
                targets_reached=reached, holds=len(st.holds), allocation=cfg.allocation, targets_settled=settled,
                participants_needed=allocation.participants_needed(
                    votes_per_target=cfg.votes_per_target, n_targets=len(votes),
                    answers_per_participant=max(1, cfg.rounds - math.ceil(cfg.rounds * cfg.placebo_probability))))


# --------------------------------------------------------------------------------------------------- rounds

PRACTICE, MAIN = "practice", "main"


def _svars(session: Any) -> dict[str, Any]:
    """The session's SESSION_FIELDS, read without marking them changed.

    oTree's ``session.vars`` (and so every SESSION_FIELDS attribute) flags the whole pickled dict as changed on
    *each access*, so a mere read would re-pickle and rewrite the session row at the next flush.
    """
    return session._vars  # type: ignore[no-any-return]


def _state(player: Player) -> SessionState:
    """The session's live state (study_app/session_state.py): kept in this process, rebuilt after a (re)start."""
    return session_state.get(player.participant._session_code) or _rebuild_state(player.session)


def _rebuild_state(session: Any) -> SessionState:
    """Read the session's fixed facts and derive its allocation state from its served trials (one query)."""
    from otree.database import db
    from otree.models import Participant
    v = _svars(session)
    study = stimuli.cached_study(v["study_bundle"], v["study_fingerprint"])
    rows = (db.query(Participant.code, Trial.phase, Trial.target_index, Trial.is_placebo, Trial.choice,
                     Trial.served_at, Trial.shown_at, Trial.answered_at, Trial.chosen_generator)
            .join(Player, Trial.player_id == Player.id)
            .join(Participant, Player.participant_id == Participant.id)
            .filter(Player.session_id == session.id))
    trials = [TrialRow(participant_code=code, phase=phase, target_index=target, is_placebo=bool(placebo),
                       answered=choice is not None,
                       last_time=max(t for t in (served, shown, answered) if t is not None), chosen_generator=chosen)
              for code, phase, target, placebo, choice, served, shown, answered, chosen in rows]
    votes, holds = session_state.derive_allocation(len(study.target_ids), trials)
    generators = tuple(sorted(study.generator_ids))
    tallies = session_state.derive_tallies(len(study.target_ids), generators, trials)
    settings = study_settings(session.config)
    return session_state.put(SessionState(
        code=session.code, settings=settings, base_url=stimuli.base_url(settings.stimulus_base_url),
        bundle=v["study_bundle"], fingerprint=v["study_fingerprint"], practice_targets=list(v["practice_targets"]),
        votes=votes, holds=holds, generators=generators, tallies=tallies))


BUNDLE_FILES = (MANIFEST_FILE, TARGETS_FILE, RECONSTRUCTIONS_FILE)
PAUSED_TEXT = "This study is paused; your answers are saved — please contact the researcher."


def bundle_digests(root: str | Path) -> dict[str, str]:
    """SHA-256 of the bundle's metadata files (images are named by their content hash, so these cover them)."""
    out = {}
    for name in BUNDLE_FILES:
        try:
            out[name] = hashlib.sha256((Path(root) / name).read_bytes()).hexdigest()
        except OSError:
            out[name] = "missing"
    return out


def bundle_changes(session: Any) -> list[str]:
    """The bundle files that differ from when the session was created (empty: unchanged)."""
    v = _svars(session)
    before = v.get("study_files") or {}
    now = bundle_digests(v["study_bundle"])
    return [f"{name} ({'deleted' if now.get(name) == 'missing' else 'changed'})"
            for name in BUNDLE_FILES if name in before and before[name] != now.get(name)]


def _study(player: Player) -> Study:
    return _study_of(_state(player))


def _study_of(st: SessionState) -> Study:
    return stimuli.cached_study(st.bundle, st.fingerprint)


def _n_rounds(player: Player, phase: str) -> int:
    settings = _state(player).settings
    return settings.practice_rounds if phase == PRACTICE else settings.rounds


def _done(player: Player, phase: str) -> int:
    return player.practice_done if phase == PRACTICE else player.rounds_done


def _trial(trial_id: int) -> Trial | None:
    """By primary key through the request's identity map (no query when this message already loaded it)."""
    from otree.database import db
    return db.query(Trial).get(trial_id) if trial_id else None  # type: ignore[no-any-return]


def _load_trials(player: Player) -> list[Trial]:
    """The player's current and next trial, with one query for both. The identity map holds objects weakly:
    keep the returned list alive while later :func:`_trial` calls should find them there."""
    from otree.database import db
    ids = [i for i in (player.cur_trial_id, player.next_trial_id) if i]
    return db.query(Trial).filter(Trial.id.in_(ids)).all() if ids else []  # type: ignore[no-any-return]


def _serve(player: Player, study: Study, phase: str, round_number: int, now: float) -> Trial:
    """Allocate round ``round_number`` of ``phase`` to the player: pick a target, lay out the grid, store it."""
    st, participant = _state(player), player.participant
    rng = random.Random(f"{st.code}|{participant.code}|{phase}|{round_number}")
    seen = set(_ints(player.seen))
    practice_pool = st.practice_targets
    placebo = False
    if phase == PRACTICE:
        pool = [t for t in practice_pool if t not in seen]
        target = rng.choice(pool) if pool else None
    else:
        mode = st.settings.allocation
        placebo = round_number in _ints(player.placebo_rounds)
        allocation.release_dropouts(st.holds, now=now, timeout_s=st.settings.dropout_timeout_s)
        load = allocation.loads(st.votes, st.holds)
        prefer = "most" if placebo and mode != "random" else "least"
        exclude = conditions.main_exclusions(
            source_of=study.source_of, members=study.source_members, condition_of=study.condition_of,
            n_conditions=len(study.conditions), seen=seen, reserved=practice_pool)
        target = allocation.choose_target(load, exclude=exclude, rng=rng, mode=mode, prefer=prefer,
                                          tallies=st.tallies, k=st.settings.votes_per_target)
    if target is None:  # prevented by the check at session creation
        raise StudyConfigError(f"no unseen target left for participant {participant.code} ({phase} round "
                               f"{round_number})")
    layout = rounds.make_layout(study.generator_ids, study.attempts, placebo=placebo, rng=rng)
    trial = Trial.create(
        player=player, phase=phase, round_number=round_number, token=secrets.token_hex(8), target_index=target,
        target_id=study.target_ids[target], true_generator=study.truth[target],
        condition=study.conditions[study.condition_of[target]], is_placebo=placebo,
        row_order=layout.row_order_text(), layout=layout.encode(), served_at=now)
    player.seen = f"{player.seen},{target}" if player.seen else str(target)
    return trial  # type: ignore[no-any-return]


def _ensure_served(player: Player, study: Study, phase: str, now: float) -> tuple[Trial | None, Trial | None]:
    """The current trial and the next one (for preloading), serving them if needed; refreshes the allocation hold."""
    n, done = _n_rounds(player, phase), _done(player, phase)
    cur, nxt = _trial(player.cur_trial_id), _trial(player.next_trial_id)
    if cur is not None and (cur.phase != phase or cur.round_number != done + 1):
        cur, nxt = None, None  # a new phase began
    new: list[Trial] = []
    if cur is None and done < n:
        cur = _serve(player, study, phase, done + 1, now)
        new.append(cur)
    if cur is not None and nxt is None and done + 2 <= n:
        nxt = _serve(player, study, phase, done + 2, now)
        new.append(nxt)
    if new:
        insert_now(new)
    player.cur_trial_id = cur.id if cur is not None else 0
    player.next_trial_id = nxt.id if nxt is not None else 0
    if phase == MAIN:
        held = [t.target_index for t in (cur, nxt) if t is not None and t.choice is None and not t.is_placebo]
        allocation.set_hold(_state(player).holds, player.participant.code, held, now=now)
    return cur, nxt


def insert_now(trials: list[Trial]) -> None:
    """INSERT these new trials now, to learn their ids; everything else this message changed is written once, at
    its commit (oTree's DBWrapper exposes no flush(); ``_db`` is the request's SQLAlchemy session)."""
    from otree.database import db
    db._db.flush(trials)


def _urls(study: Study, base: str, trial: Trial) -> tuple[str, list[str]]:
    layout = Layout.decode(trial.layout, len(study.generator_ids))
    target_url = base + study.target_image[trial.target_index]
    images = [target_url if c.row == PLACEBO else base + study.cell_image[(trial.target_index, c.row, c.attempt or 0)]
              for c in layout.cells]
    return target_url, images


def state_message(player: Player, study: Study, phase: str, *, now: float) -> dict[str, Any]:
    """What the browser should show now: the current round (serving it if needed) or ``done``."""
    cur, nxt = _ensure_served(player, study, phase, now)
    if cur is None:
        return {"type": "done", "phase": phase}
    if cur.shown_at is None:
        cur.shown_at = now
    if phase == MAIN and player.field_maybe_none("started_rounds_at") is None:
        player.started_rounds_at = now
    base = _state(player).base_url
    target, images = _urls(study, base, cur)
    preload: list[str] = []
    if nxt is not None:
        t2, imgs2 = _urls(study, base, nxt)
        preload = [t2, *dict.fromkeys(imgs2)]
    return {"type": "round", "phase": phase, "round": cur.round_number, "of": _n_rounds(player, phase),
            "token": cur.token, "rows": len(study.generator_ids), "cols": study.attempts, "target": target,
            "images": images, "preload": preload}


def _find_answered_trial(player: Player, phase: str, round_number: object) -> Trial | None:
    cur = _trial(player.cur_trial_id)
    if cur is not None and cur.phase == phase and cur.round_number == round_number:
        return cur
    if isinstance(round_number, int) and not isinstance(round_number, bool) and 1 <= round_number <= _done(player, phase):
        found = Trial.objects_first(player=player, phase=phase, round_number=round_number)
        return found  # type: ignore[no-any-return]
    return None


def answer_message(player: Player, study: Study, phase: str, data: dict[str, Any], *, now: float
                   ) -> dict[str, Any]:
    """Validate and store an answer (idempotently), then return the ack with the next state."""
    choice = rounds.parse_choice(data.get("choice"), study.n_slots)
    response_ms = rounds.parse_response_ms(data.get("response_ms"))
    round_number, token = data.get("round"), data.get("token")
    trial = _find_answered_trial(player, phase, round_number)
    is_new = rounds.check_answer(
        served_round=trial.round_number if trial else None, served_token=trial.token if trial else None,
        answered_choice=trial.choice if trial else None, round_number=round_number, token=token, choice=choice)
    assert trial is not None
    layout = Layout.decode(trial.layout, len(study.generator_ids))
    if is_new:
        cell = layout.cells[choice - 1]
        trial.choice, trial.response_ms, trial.answered_at = choice, response_ms, now
        trial.chosen_generator, trial.chosen_attempt = cell.row, cell.attempt
        if phase == PRACTICE:
            player.practice_done += 1
        else:
            player.rounds_done += 1
            if not trial.is_placebo:
                session_state.count_vote(_state(player), trial.target_index, cell.row)
        player.cur_trial_id, player.next_trial_id = player.next_trial_id, 0
    reply: dict[str, Any] = {"type": "ack", "round": trial.round_number, "duplicate": not is_new}
    if phase == PRACTICE:
        source = PLACEBO if trial.is_placebo else trial.true_generator
        reply["feedback"] = {"correct": is_correct(chosen_generator=trial.chosen_generator,
                                                   true_generator=trial.true_generator, is_placebo=trial.is_placebo),
                             "correct_slots": [i + 1 for i, c in enumerate(layout.cells) if c.row == source]}
    reply["state"] = state_message(player, study, phase, now=now)
    return reply


def handle_live(player: Player, data: Any, phase: str, *, now: float | None = None) -> dict[str, Any]:
    """The live protocol for one message (documented at the top of this module); never raises on bad input.

    Database work per message: the two trials in play are read with one query, a newly served trial is inserted
    at once (for its id), and every other change is written once at the commit (no autoflush in between).
    """
    from otree.database import db
    with db._db.no_autoflush:
        in_play = _load_trials(player)  # noqa: F841 -- held so that _trial() finds them in the identity map
        return _handle_live(player, data, phase, now=time.time() if now is None else now)


def _handle_live(player: Player, data: Any, phase: str, *, now: float) -> dict[str, Any]:
    try:
        study = _study(player)
    except StudyConfigError as e:  # the bundle changed under the live session: stop serving, tell the participant
        print(f"study_app: session {player.session.code} paused: {e}", file=sys.stderr, flush=True)
        return {"type": "paused", "message": PAUSED_TEXT}
    if not isinstance(data, dict) or data.get("type") not in ("state", "answer"):
        return {"type": "error", "code": "bad_message", "message": "expected {type: state|answer, ...}",
                "state": state_message(player, study, phase, now=now)}
    if data["type"] == "state":
        return state_message(player, study, phase, now=now)
    try:
        return answer_message(player, study, phase, data, now=now)
    except AnswerError as e:
        return {"type": "error", "code": e.code, "message": str(e),
                "state": state_message(player, study, phase, now=now)}


def _committed(player: Player, reply: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Commit before replying: oTree sends the reply before its own end-of-message commit, and an ack must only
    ever reach the browser for an answer that is already durable (kill -9 between the two would lose it)."""
    from otree.database import db
    recipient = player.id_in_group
    orm = db._db
    orm.expire_on_commit = False  # oTree reads the participant after we return: no reload (the session ends then)
    db.commit()
    return {recipient: reply}


def _live(player: Player, data: Any, phase: str) -> dict[int, dict[str, Any]]:
    code = player.participant._session_code
    try:
        return _committed(player, handle_live(player, data, phase))
    except BaseException:
        session_state.forget(code)  # this message's changes were rolled back: rebuild from what was committed
        raise


def live_practice(player: Player, data: Any) -> dict[int, dict[str, Any]]:
    return _live(player, data, PRACTICE)


def live_rounds(player: Player, data: Any) -> dict[int, dict[str, Any]]:
    return _live(player, data, MAIN)


# --------------------------------------------------------------------------------------------------- export


def custom_export(players: list[Player]) -> Iterator[list[Any]]:
    """The responses export (contracts.responses): one row per answered real round; practice excluded.
    Participant-controlled cells (the label) are neutralised against formula injection (study_app.csv_safety)."""
    yield list(EXPORT_COLUMNS)
    by_id = {p.id: p for p in players}
    if not by_id:
        return
    query = Trial.objects_filter(Trial.player_id.in_(list(by_id)), phase=MAIN)  # type: ignore[attr-defined]
    trials = query.filter(Trial.choice.isnot(None)).order_by(Trial.player_id, Trial.round_number)  # type: ignore
    for t in trials:
        participant = by_id[t.player_id].participant
        yield make_response(
            participant_code=participant.code, participant_label=neutralise(participant.label or ""),
            round_number=t.round_number,
            target_id=t.target_id, true_generator=t.true_generator, row_order=t.row_order.split("|"),
            chosen_generator=t.chosen_generator, chosen_attempt=t.chosen_attempt, response_ms=t.response_ms,
            condition=t.condition,
        ).to_row()


TRIAL_EXPORT_COLUMNS: tuple[str, ...] = (
    "session_code", "participant_code", "participant_label", "prolific_study_id", "prolific_session_id", "phase",
    "round_number", "target_id", "is_placebo", "row_order", "layout", "served_at", "shown_at", "answered_at", "choice",
    "chosen_generator", "chosen_attempt", "response_ms",
)


def custom_export_trials(players: list[Player]) -> Iterator[list[Any]]:
    """Every served trial, practice and unanswered ones included, with server timestamps (unix seconds) and the
    slot layout: for audits and timing analyses. The analysis reads ``custom_export``, not this."""
    yield list(TRIAL_EXPORT_COLUMNS)
    by_id = {p.id: p for p in players}
    if not by_id:
        return
    query = Trial.objects_filter(Trial.player_id.in_(list(by_id)))  # type: ignore[attr-defined]
    for t in query.order_by(Trial.player_id, Trial.id):  # type: ignore[attr-defined]
        player = by_id[t.player_id]
        participant = player.participant
        yield [player.session.code, participant.code, neutralise(participant.label or ""),
               neutralise(player.prolific_study_id or ""), neutralise(player.prolific_session_id or ""), t.phase, t.round_number, t.target_id, int(t.is_placebo), t.row_order,
               t.layout, t.served_at, t.shown_at, t.answered_at, t.choice, t.chosen_generator, t.chosen_attempt,
               t.response_ms]


# --------------------------------------------------------------------------------------------------- pages


class Consent(Page):
    form_model = "player"
    form_fields = ["consent", "prolific_study_id", "prolific_session_id"]

    @staticmethod
    def vars_for_template(player: Player) -> dict[str, Any]:
        cfg = player.session.config
        return dict(consent_text=cfg.get("consent_text") or DEFAULT_CONSENT, rounds=cfg["rounds"],
                    minutes=expected_minutes(cfg), fee=player.session.config.get("participation_fee", 0),
                    min_width=MIN_SCREEN[0], min_height=MIN_SCREEN[1])

    @staticmethod
    def error_message(player: Player, values: dict[str, Any]) -> str | None:
        if values.get("consent") is not True:
            return ("To take part, choose \"Yes, I agree to take part\" (or close this tab if you do not want to "
                    "take part).")
        for key in ("prolific_study_id", "prolific_session_id"):
            value = values.get(key) or ""
            if value and not FORM_ID_RULE.matches(value):
                return f"{key} is not valid: please open the study again from the recruiting platform's link."
        return None


SECONDS_PER_ROUND = 9.0   # measured pace of the paper's task: 120 rounds in about 20 minutes with the instructions
OVERHEAD_MINUTES = 2      # consent and instructions


def expected_minutes(config: Any) -> int:
    """The duration participants are told: the config's ``expected_minutes`` if set, else computed from the
    configured rounds (practice included)."""
    override = config.get("expected_minutes")
    if override:
        return int(override)
    n = int(config.get("rounds", 0)) + int(config.get("practice_rounds", 0))
    return max(1, round(n * SECONDS_PER_ROUND / 60) + OVERHEAD_MINUTES)


FORM_ID_RULE = RoomRule("lab")  # STUDY_ID / SESSION_ID posted by the consent page: the widest id alphabet


class Instructions(Page):
    @staticmethod
    def vars_for_template(player: Player) -> dict[str, Any]:
        cfg = player.session.config
        return dict(rounds=cfg["rounds"], practice_rounds=cfg["practice_rounds"])


class Practice(Page):
    live_method = staticmethod(live_practice)

    @staticmethod
    def is_displayed(player: Player) -> bool:
        return int(player.session.config["practice_rounds"]) > 0

    @staticmethod
    def js_vars(player: Player) -> dict[str, Any]:
        return dict(phase=PRACTICE)

    @staticmethod
    def error_message(player: Player, values: dict[str, Any]) -> str | None:
        if player.practice_done < _n_rounds(player, PRACTICE):
            return "Please finish the practice rounds first."
        return None


class Rounds(Page):
    live_method = staticmethod(live_rounds)

    @staticmethod
    def js_vars(player: Player) -> dict[str, Any]:
        return dict(phase=MAIN)

    @staticmethod
    def error_message(player: Player, values: dict[str, Any]) -> str | None:
        if player.rounds_done < _n_rounds(player, MAIN):
            return "Please answer all rounds first."
        return None

    @staticmethod
    def before_next_page(player: Player, timeout_happened: bool) -> None:
        player.finished_at = time.time()
        allocation.set_hold(_state(player).holds, player.participant.code, [], now=player.finished_at)


class Completion(Page):
    @staticmethod
    def vars_for_template(player: Player) -> dict[str, Any]:
        cfg = player.session.config
        return dict(completion_code=cfg.get("completion_code") or "", completion_url=cfg.get("completion_url") or "")

    @staticmethod
    def js_vars(player: Player) -> dict[str, Any]:
        return dict(completion_url=player.session.config.get("completion_url") or "")


page_sequence = [Consent, Instructions, Practice, Rounds, Completion]
