"""The study's two custom exports (oTree's ``custom_export``) as rows; the app's ``Trial`` model is passed in.

Participant-controlled cells (the label, the posted platform ids) are neutralised against formula injection
(study_app.csv_safety).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from contracts.responses import EXPORT_COLUMNS, make_response
from study_app.csv_safety import neutralise
from study_app.rounds import MAIN

if TYPE_CHECKING:
    from study_app import Player, Trial

TRIAL_EXPORT_COLUMNS: tuple[str, ...] = (
    "session_code", "participant_code", "participant_label", "prolific_study_id", "prolific_session_id", "phase",
    "round_number", "target_id", "is_placebo", "row_order", "layout", "served_at", "shown_at", "answered_at", "choice",
    "chosen_generator", "chosen_attempt", "response_ms",
)


def responses(model: type[Trial], players: Sequence[Player]) -> Iterator[list[Any]]:
    """The responses export (contracts.responses): one row per answered real round; practice excluded."""
    yield list(EXPORT_COLUMNS)
    by_id = {p.id: p for p in players}
    if not by_id:
        return
    query = model.objects_filter(model.player_id.in_(list(by_id)), phase=MAIN)  # type: ignore[attr-defined]
    answered = query.filter(model.choice.isnot(None)).order_by(model.player_id, model.round_number)  # type: ignore
    for t in answered:
        participant = by_id[t.player_id].participant
        yield make_response(
            participant_code=participant.code, participant_label=neutralise(participant.label or ""),
            round_number=t.round_number,
            target_id=t.target_id, true_generator=t.true_generator, row_order=t.row_order.split("|"),
            chosen_generator=t.chosen_generator, chosen_attempt=t.chosen_attempt, response_ms=t.response_ms,
            condition=t.condition,
        ).to_row()


def trials(model: type[Trial], players: Sequence[Player]) -> Iterator[list[Any]]:
    """Every served trial, practice and unanswered ones included, with server timestamps (unix seconds) and the
    slot layout: for audits and timing analyses. The analysis reads :func:`responses`, not this."""
    yield list(TRIAL_EXPORT_COLUMNS)
    by_id = {p.id: p for p in players}
    if not by_id:
        return
    query = model.objects_filter(model.player_id.in_(list(by_id)))  # type: ignore[attr-defined]
    for t in query.order_by(model.player_id, model.id):  # type: ignore[attr-defined]
        player = by_id[t.player_id]
        participant = player.participant
        yield [player.session.code, participant.code, neutralise(participant.label or ""),
               neutralise(player.prolific_study_id or ""), neutralise(player.prolific_session_id or ""), t.phase,
               t.round_number, t.target_id, int(t.is_placebo), t.row_order, t.layout, t.served_at, t.shown_at,
               t.answered_at, t.choice, t.chosen_generator, t.chosen_attempt, t.response_ms]
