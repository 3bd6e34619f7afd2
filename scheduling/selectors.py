"""Reads for the dispatcher and the admin."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection

from sessions_app.gateway.base import SESSION_NAME_KEY

# A reconnect chain longer than this is a data error, not history: stop following it there.
MAX_SUPERSESSION_DEPTH = 32


@dataclass(frozen=True)
class SendingSession:
    """The live end of a session's `superseded_by` chain, as the dispatcher needs it."""

    id: uuid.UUID
    status: str
    session_name: str | None
    next_send_at: dt.datetime | None

    @property
    def is_connected(self) -> bool:
        return self.status == "connected"


def sending_sessions_for(
    session_ids: Iterable[uuid.UUID], *, name_key: str = SESSION_NAME_KEY
) -> dict[uuid.UUID, SendingSession]:
    """Map each of `session_ids` to the session that sends for it now, in one query.

    `name_key` is the session_data key holding the gateway's name (the backend's `session_key`).

    A superseded session's references moved to its successor, so the chain is followed to its
    end; messages of an event still pointing at the old session go out through the new one.
    """
    ids = list({sid for sid in session_ids if sid is not None})
    if not ids:
        return {}
    sql = """
        WITH RECURSIVE chain(start_id, id, superseded_by_id, depth) AS (
            SELECT s.id, s.id, s.superseded_by_id, 0
            FROM whatsapp_sessions s WHERE s.id = ANY(%s)
            UNION ALL
            SELECT c.start_id, s.id, s.superseded_by_id, c.depth + 1
            FROM chain c JOIN whatsapp_sessions s ON s.id = c.superseded_by_id
            WHERE c.depth < %s
        )
        SELECT DISTINCT ON (c.start_id)
            c.start_id, s.id, s.status, s.session_data ->> %s, p.next_send_at
        FROM chain c
        JOIN whatsapp_sessions s ON s.id = c.id
        LEFT JOIN whatsapp_session_pacing p ON p.session_id = s.id
        ORDER BY c.start_id, c.depth DESC
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids, MAX_SUPERSESSION_DEPTH, name_key])
        rows = cursor.fetchall()
    return {
        start_id: SendingSession(
            id=live_id, status=status, session_name=name or None, next_send_at=next_send_at
        )
        for start_id, live_id, status, name, next_send_at in rows
    }
