"""The session list, computed in SQL: one query with GROUP BY subqueries (no N+1).

Readings are not counted here: ``sessions.reading_count`` and
``sessions.last_reading_ms`` are kept exact by the reading writer in the
transaction of each batch (``db.writer``), so the list costs the same whether
a session holds ten readings or a million. Observations, alarms and events
(tens per session) are still grouped here.

``phase_reached`` is the furthest phase the stored events show, never
``ended``: ``dose_given`` means at least onset; a ``phase_changed`` event names
its phase in ``data["phase"]``. Ending is shown by ``ended_at``, so a session
that ended during its effect window reads "effect, ended at ...".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Subquery, and_, case, func, select

from db.models import AlarmLogRow, ClientRow, ObservationRow, SessionEventRow, SessionRow
from db.rows import phase_ranks, summary_from_values
from kapmonitor.ports import SessionSummary

__all__ = ["load_summaries"]


def _phase_rank() -> Any:
    phase = SessionEventRow.data["phase"].as_string()
    whens = [
        (SessionEventRow.kind == kind.value if named is None
         else and_(SessionEventRow.kind == kind.value, phase == named.value), rank)
        for kind, named, rank in phase_ranks()
    ]
    return case(*whens, else_=0)


def load_summaries(
    conn: Connection, session_ids: Sequence[int] | None = None, *, unfinished_only: bool = False,
    limit: int | None = None,
) -> list[SessionSummary]:
    """Summaries of the chosen sessions (all by default), most recent start first."""

    def grouped(model: Any, *columns: Any) -> Subquery:
        sid = model.session_id
        query = select(sid.label("session_id"), *columns).group_by(sid)
        if session_ids is not None:
            query = query.where(sid.in_(session_ids))
        return query.subquery()

    o = grouped(ObservationRow, func.count().label("n"), func.max(ObservationRow.recorded_at).label("last"))
    a = grouped(AlarmLogRow, func.count().label("n"), func.max(AlarmLogRow.at).label("last"))
    e = grouped(SessionEventRow, func.max(SessionEventRow.at).label("last"),
                func.max(_phase_rank()).label("rank"))
    query = (
        select(
            SessionRow.id, ClientRow.code, SessionRow.protocol_name, SessionRow.route,
            SessionRow.dose_amount, SessionRow.dose_unit, SessionRow.started_at, SessionRow.dose_at,
            SessionRow.ended_at,
            SessionRow.reading_count, o.c.n, o.c.last, a.c.n, a.c.last, e.c.last, e.c.rank,
            SessionRow.last_reading_ms,
        )
        .join(ClientRow, ClientRow.id == SessionRow.client_id)
        .outerjoin(o, o.c.session_id == SessionRow.id)
        .outerjoin(a, a.c.session_id == SessionRow.id)
        .outerjoin(e, e.c.session_id == SessionRow.id)
        .order_by(SessionRow.started_at.desc(), SessionRow.id.desc())
    )
    if session_ids is not None:
        query = query.where(SessionRow.id.in_(session_ids))
    if unfinished_only:
        query = query.where(SessionRow.ended_at.is_(None))
    if limit is not None:
        query = query.limit(limit)
    return [summary_from_values(row) for row in conn.execute(query)]
