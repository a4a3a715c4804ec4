"""The oTree internals behind study_app/otree_internals.py are still what the adapter uses: after an oTree upgrade
a failure here names what changed (the adapter's docstring says why each one is used)."""

from __future__ import annotations

import inspect

import otree
import pytest
import sqlalchemy.orm
from otree.database import DBWrapper
from otree.models import Participant, Session

from study_app import otree_internals


def _changed(what: str) -> str:
    return (f"oTree {getattr(otree, '__version__', '?')} changed {what}; study_app/otree_internals.py was checked "
            f"against oTree {otree_internals.CHECKED_VERSION}: adapt the adapter, then its CHECKED_VERSION")


def test_the_database_wrapper_keeps_its_methods_and_its_sqlalchemy_session() -> None:
    for name in ("query", "add_all", "commit"):
        assert callable(getattr(DBWrapper, name, None)), _changed(f"otree.database.DBWrapper.{name}")
    assert isinstance(inspect.getattr_static(DBWrapper, "_db", None), property), \
        _changed("otree.database.DBWrapper._db (the request's SQLAlchemy session)")


@pytest.mark.parametrize("name", ["flush", "no_autoflush", "bulk_update_mappings", "expire_all"])
def test_the_sqlalchemy_session_offers_what_the_adapter_calls(name: str) -> None:
    assert hasattr(sqlalchemy.orm.Session, name), _changed(f"its SQLAlchemy: Session.{name}")


def test_flush_takes_objects_and_sessions_have_expire_on_commit() -> None:
    assert "objects" in inspect.signature(sqlalchemy.orm.Session.flush).parameters, \
        _changed("its SQLAlchemy: Session.flush(objects)")
    assert "expire_on_commit" in inspect.signature(sqlalchemy.orm.Session.__init__).parameters, \
        _changed("its SQLAlchemy: Session.expire_on_commit")


def test_the_session_and_participant_columns_are_there() -> None:
    assert "_vars" in Session.__table__.columns, _changed("Session._vars (the SESSION_FIELDS column)")
    assert isinstance(inspect.getattr_static(Session, "vars", None), property), _changed("Session.vars")
    assert "_session_code" in Participant.__table__.columns, _changed("Participant._session_code")
    assert otree_internals.Participant is Participant
