"""The parts of oTree below its documented API that the study app uses, behind one adapter.

Checked against oTree 6.0.15 (:data:`CHECKED_VERSION`); tests/study/test_otree_internals.py fails with a message
naming the missing piece if an oTree upgrade changes any of them. What the app relies on, and why:

- ``otree.database.db`` (oTree's ``DBWrapper``): ``query``, ``add_all`` and ``commit`` on the request's database
  session, and its ``_db`` property, that SQLAlchemy ``Session`` itself, for what the wrapper does not offer:
  ``flush`` (a served trial's id is needed at once), ``no_autoflush`` (every other change of a live message is
  written once, at its commit), ``bulk_update_mappings`` and ``expire_all`` (groups in bulk at session creation),
  ``expire_on_commit`` (oTree reads the participant after a live method returns: no reload).
- ``Session._vars``: the SESSION_FIELDS dict. ``session.vars`` (and every SESSION_FIELDS attribute) marks the
  pickled dict as changed on each access, so a mere read would rewrite the session row at the next flush.
- ``Participant._session_code``: the session code stored on the participant row (no session row to load).
- ``otree.models.Participant``: joined when the live state is rebuilt from the trials.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from otree.database import db
from otree.models import Participant

CHECKED_VERSION = "6.0.15"

__all__ = ["CHECKED_VERSION", "Participant", "add_all_flushed", "bulk_update", "commit_keeping_loaded", "flush",
           "no_autoflush", "query", "session_code", "session_fields"]


def query(*entities: Any) -> Any:
    """A query on the request's database session."""
    return db.query(*entities)


def flush(objects: Sequence[Any]) -> None:
    """INSERT these new objects now (to learn their ids); nothing else pending is written."""
    db._db.flush(objects)


def add_all_flushed(objects: Sequence[Any]) -> None:
    """Add new rows and INSERT them now (their ids are set afterwards)."""
    db.add_all(objects)
    db._db.flush()


def bulk_update(model: type, rows: Iterable[Mapping[str, Any]]) -> None:
    """One bulk UPDATE of ``model`` rows (each mapping holds the primary key ``id`` and the new values), then
    expire every loaded object so that later reads see the new values."""
    orm = db._db
    orm.bulk_update_mappings(model, list(rows))
    orm.expire_all()


def no_autoflush() -> AbstractContextManager[Any]:
    """A block in which queries do not first write the pending changes."""
    return db._db.no_autoflush  # type: ignore[no-any-return]


def commit_keeping_loaded() -> None:
    """Commit now, leaving the loaded objects as they are (oTree reads the participant after a live method
    returns; the request's database session ends with that message)."""
    db._db.expire_on_commit = False
    db.commit()


def session_fields(session: Any) -> dict[str, Any]:
    """The session's SESSION_FIELDS, read without marking them changed."""
    return session._vars  # type: ignore[no-any-return]


def session_code(participant: Any) -> str:
    """The code of the participant's session, from the participant row."""
    return participant._session_code  # type: ignore[no-any-return]
