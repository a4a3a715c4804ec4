"""Serving the study: session set-up, the live protocol of the Practice and Rounds pages, the admin report's numbers.

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
``study_files`` (digests of the bundle's metadata files), ``practice_targets`` (target indices reserved for
practice: never used in real rounds of that session; clean targets only).

Conditions (docs/contracts.md, conditions addendum, study_app/conditions.py): with a version-2 bundle no participant is served
two targets of one source target, a participant's real rounds are spread evenly over the conditions (counts within
one), and practice uses clean targets; the export's ``condition`` column is the target's condition, stored on the
Trial. No condition name or source id is ever sent to the browser.
The allocation state (answers per target, and each participant's served-but-unanswered targets) is derived from
the Trial rows and kept in the server process between messages (study_app/session_state.py); an answer writes
only its own rows. PARTICIPANT_FIELDS: none (per-participant state is on the Player: small, no pickled blob).

The app's models are defined in ``study_app/__init__.py``, which imports this module; :func:`_models` looks them
up when first needed.
"""

from __future__ import annotations

import hashlib
import math
import random
import secrets
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contracts.bundle import MANIFEST_FILE, RECONSTRUCTIONS_FILE, TARGETS_FILE
from contracts.responses import PLACEBO, is_correct
from study_app import allocation, conditions, otree_internals, rounds, session_state, stimuli
from study_app.config import study_settings
from study_app.rounds import MAIN, PRACTICE, AnswerError, Layout
from study_app.session_state import SessionState, TrialRow
from study_app.stimuli import StimulusSet, StudyConfigError

if TYPE_CHECKING:
    from study_app import Group, Player, Subsession, Trial

BUNDLE_FILES = (MANIFEST_FILE, TARGETS_FILE, RECONSTRUCTIONS_FILE)
PAUSED_TEXT = "This study is paused; your answers are saved — please contact the researcher."


def _models() -> tuple[type[Player], type[Group], type[Trial]]:
    """The app's models (study_app/__init__.py defines them after importing this module)."""
    from study_app import Group, Player, Trial
    return Player, Group, Trial


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


# --------------------------------------------------------------------------------------------------- session set-up


def create_session(subsession: Subsession) -> None:
    """Check the config and the bundle (one clear error in the admin), set up allocation and placebo rounds."""
    session = subsession.session
    cfg = study_settings(session.config)
    study = stimuli.load_stimulus_set(cfg.bundle)
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
    Player, Group, _ = _models()
    groups = [Group(session=subsession.session, subsession=subsession, round_number=subsession.round_number,
                    id_in_subsession=i) for i in range(1, len(players) + 1)]
    otree_internals.add_all_flushed(groups)
    otree_internals.bulk_update(Player, [{"id": p.id, "group_id": g.id, "id_in_group": 1}
                                         for p, g in zip(players, groups)])


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
    v = otree_internals.session_fields(session)
    before = v.get("study_files") or {}
    now = bundle_digests(v["study_bundle"])
    return [f"{name} ({'deleted' if now.get(name) == 'missing' else 'changed'})"
            for name in BUNDLE_FILES if name in before and before[name] != now.get(name)]


# --------------------------------------------------------------------------------------------------- admin report


def admin_report(subsession: Subsession) -> dict[str, Any]:
    """The admin "Report" tab (admin_report.html): coverage of the targets, or why the session is paused."""
    session = subsession.session
    changed = bundle_changes(session)
    bundle = otree_internals.session_fields(session)["study_bundle"]
    try:
        st = session_state.get(session.code) or _rebuild_state(session)
        _stimuli_of(st)
    except StudyConfigError as e:
        return dict(paused=True, bundle_changes=changed or [str(e)], bundle=bundle)
    cfg = st.settings
    practice = set(st.practice_targets)
    votes = [v for i, v in enumerate(st.votes) if i not in practice]  # practice targets get no votes
    reached = sum(1 for v in votes if v >= cfg.votes_per_target)
    settled = sum(1 for i, c in enumerate(st.tallies)
                  if i not in practice and allocation.settled(c, cfg.votes_per_target))
    return dict(paused=False, bundle_changes=changed, bundle=bundle, n_targets=len(votes),
                votes_total=sum(votes), votes_per_target=cfg.votes_per_target,
                targets_reached=reached, holds=len(st.holds), allocation=cfg.allocation, targets_settled=settled,
                participants_needed=allocation.participants_needed(
                    votes_per_target=cfg.votes_per_target, n_targets=len(votes),
                    answers_per_participant=max(1, cfg.rounds - math.ceil(cfg.rounds * cfg.placebo_probability))))


# --------------------------------------------------------------------------------------------------- live state


def state(player: Player) -> SessionState:
    """The session's live state (study_app/session_state.py): kept in this process, rebuilt after a (re)start."""
    code = otree_internals.session_code(player.participant)
    return session_state.get(code) or _rebuild_state(player.session)


def _rebuild_state(session: Any) -> SessionState:
    """Read the session's fixed facts and derive its allocation state from its served trials (one query)."""
    Player, _, Trial = _models()
    Participant = otree_internals.Participant
    v = otree_internals.session_fields(session)
    study = stimuli.cached_stimulus_set(v["study_bundle"], v["study_fingerprint"])
    rows = (otree_internals.query(Participant.code, Trial.phase, Trial.target_index, Trial.is_placebo, Trial.choice,
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


def stimulus_set(player: Player) -> StimulusSet:
    """The stimuli of the player's session (raises StudyConfigError if the bundle changed since its creation)."""
    return _stimuli_of(state(player))


def _stimuli_of(st: SessionState) -> StimulusSet:
    return stimuli.cached_stimulus_set(st.bundle, st.fingerprint)


def n_rounds(player: Player, phase: str) -> int:
    settings = state(player).settings
    return settings.practice_rounds if phase == PRACTICE else settings.rounds


def _done(player: Player, phase: str) -> int:
    return player.practice_done if phase == PRACTICE else player.rounds_done


def release(player: Player, now: float) -> None:
    """The player finished the rounds: nothing of theirs is held any more."""
    allocation.set_hold(state(player).holds, player.participant.code, [], now=now)


# --------------------------------------------------------------------------------------------------- serving


def trial(trial_id: int) -> Trial | None:
    """By primary key through the request's identity map (no query when this message already loaded it)."""
    _, _, Trial = _models()
    return otree_internals.query(Trial).get(trial_id) if trial_id else None  # type: ignore[no-any-return]


def _load_trials(player: Player) -> list[Trial]:
    """The player's current and next trial, with one query for both. The identity map holds objects weakly:
    keep the returned list alive while later :func:`trial` calls should find them there."""
    _, _, Trial = _models()
    ids = [i for i in (player.cur_trial_id, player.next_trial_id) if i]
    return otree_internals.query(Trial).filter(Trial.id.in_(ids)).all() if ids else []  # type: ignore[no-any-return]


def _serve(player: Player, study: StimulusSet, phase: str, round_number: int, now: float) -> Trial:
    """Allocate round ``round_number`` of ``phase`` to the player: pick a target, lay out the grid, store it."""
    _, _, Trial = _models()
    st, participant = state(player), player.participant
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
    served = Trial.create(
        player=player, phase=phase, round_number=round_number, token=secrets.token_hex(8), target_index=target,
        target_id=study.target_ids[target], true_generator=study.truth[target],
        condition=study.conditions[study.condition_of[target]], is_placebo=placebo,
        row_order=layout.row_order_text(), layout=layout.encode(), served_at=now)
    player.seen = f"{player.seen},{target}" if player.seen else str(target)
    return served  # type: ignore[no-any-return]


def _ensure_served(player: Player, study: StimulusSet, phase: str, now: float) -> tuple[Trial | None, Trial | None]:
    """The current trial and the next one (for preloading), serving them if needed; refreshes the allocation hold."""
    n, done = n_rounds(player, phase), _done(player, phase)
    cur, nxt = trial(player.cur_trial_id), trial(player.next_trial_id)
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
        otree_internals.flush(new)  # their ids now; every other change of this message is written at its commit
    player.cur_trial_id = cur.id if cur is not None else 0
    player.next_trial_id = nxt.id if nxt is not None else 0
    if phase == MAIN:
        held = [t.target_index for t in (cur, nxt) if t is not None and t.choice is None and not t.is_placebo]
        allocation.set_hold(state(player).holds, player.participant.code, held, now=now)
    return cur, nxt


def _urls(study: StimulusSet, base: str, served: Trial) -> tuple[str, list[str]]:
    layout = Layout.decode(served.layout, len(study.generator_ids))
    target_url = base + study.target_image[served.target_index]
    images = [target_url if c.row == PLACEBO else base + study.cell_image[(served.target_index, c.row, c.attempt or 0)]
              for c in layout.cells]
    return target_url, images


def state_message(player: Player, study: StimulusSet, phase: str, *, now: float) -> dict[str, Any]:
    """What the browser should show now: the current round (serving it if needed) or ``done``."""
    cur, nxt = _ensure_served(player, study, phase, now)
    if cur is None:
        return {"type": "done", "phase": phase}
    if cur.shown_at is None:
        cur.shown_at = now
    if phase == MAIN and player.field_maybe_none("started_rounds_at") is None:
        player.started_rounds_at = now
    base = state(player).base_url
    target, images = _urls(study, base, cur)
    preload: list[str] = []
    if nxt is not None:
        t2, imgs2 = _urls(study, base, nxt)
        preload = [t2, *dict.fromkeys(imgs2)]
    return {"type": "round", "phase": phase, "round": cur.round_number, "of": n_rounds(player, phase),
            "token": cur.token, "rows": len(study.generator_ids), "cols": study.attempts, "target": target,
            "images": images, "preload": preload}


def _find_answered_trial(player: Player, phase: str, round_number: object) -> Trial | None:
    _, _, Trial = _models()
    cur = trial(player.cur_trial_id)
    if cur is not None and cur.phase == phase and cur.round_number == round_number:
        return cur
    if (isinstance(round_number, int) and not isinstance(round_number, bool)
            and 1 <= round_number <= _done(player, phase)):
        found = Trial.objects_first(player=player, phase=phase, round_number=round_number)
        return found  # type: ignore[no-any-return]
    return None


def answer_message(player: Player, study: StimulusSet, phase: str, data: dict[str, Any], *, now: float
                   ) -> dict[str, Any]:
    """Validate and store an answer (idempotently), then return the ack with the next state."""
    choice = rounds.parse_choice(data.get("choice"), study.n_slots)
    response_ms = rounds.parse_response_ms(data.get("response_ms"))
    round_number, token = data.get("round"), data.get("token")
    answered = _find_answered_trial(player, phase, round_number)
    is_new = rounds.check_answer(
        served_round=answered.round_number if answered else None, served_token=answered.token if answered else None,
        answered_choice=answered.choice if answered else None, round_number=round_number, token=token,
        choice=choice)
    assert answered is not None
    layout = Layout.decode(answered.layout, len(study.generator_ids))
    if is_new:
        cell = layout.cells[choice - 1]
        answered.choice, answered.response_ms, answered.answered_at = choice, response_ms, now
        answered.chosen_generator, answered.chosen_attempt = cell.row, cell.attempt
        if phase == PRACTICE:
            player.practice_done += 1
        else:
            player.rounds_done += 1
            if not answered.is_placebo:
                session_state.count_vote(state(player), answered.target_index, cell.row)
        player.cur_trial_id, player.next_trial_id = player.next_trial_id, 0
    reply: dict[str, Any] = {"type": "ack", "round": answered.round_number, "duplicate": not is_new}
    if phase == PRACTICE:
        source = PLACEBO if answered.is_placebo else answered.true_generator
        reply["feedback"] = {"correct": is_correct(chosen_generator=answered.chosen_generator,
                                                   true_generator=answered.true_generator,
                                                   is_placebo=answered.is_placebo),
                             "correct_slots": [i + 1 for i, c in enumerate(layout.cells) if c.row == source]}
    reply["state"] = state_message(player, study, phase, now=now)
    return reply


def handle_live(player: Player, data: Any, phase: str, *, now: float | None = None) -> dict[str, Any]:
    """The live protocol for one message (documented at the top of this module); never raises on bad input.

    Database work per message: the two trials in play are read with one query, a newly served trial is inserted
    at once (for its id), and every other change is written once at the commit (no autoflush in between).
    """
    with otree_internals.no_autoflush():
        in_play = _load_trials(player)  # noqa: F841 -- held so that trial() finds them in the identity map
        return _handle_live(player, data, phase, now=time.time() if now is None else now)


def _handle_live(player: Player, data: Any, phase: str, *, now: float) -> dict[str, Any]:
    try:
        study = stimulus_set(player)
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


def live_method(player: Player, data: Any, phase: str) -> dict[int, dict[str, Any]]:
    """One live message of the ``phase`` page, committed before the reply is returned: oTree sends the reply
    before its own end-of-message commit, and an ack must only ever reach the browser for an answer that is
    already durable (kill -9 between the two would lose it)."""
    code = otree_internals.session_code(player.participant)
    try:
        reply = handle_live(player, data, phase)
        recipient = player.id_in_group
        otree_internals.commit_keeping_loaded()
        return {recipient: reply}
    except BaseException:
        session_state.forget(code)  # this message's changes were rolled back: rebuild from what was committed
        raise
