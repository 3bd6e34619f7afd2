"""The scale data set: a large installation, built in PostgreSQL with set-based SQL.

At `scale=1` (`BENCH_SCALE`, the default): 2,000 organizations, 20,000 sessions, 40,000 groups,
100,000 workshops, 100,000 webinars, 200,000 campaigns, 1,000,000 scheduled messages and 4,000
migrations. Every count is proportional to the scale.

Each organization has ten sessions: two phones that reconnected (an old, disconnected session
superseded by a connected one, with the audit of that move), four more connected phones, one
disconnected phone waiting to reconnect and one session still connecting, without a phone.
Every session has two groups (the old sessions' ones inactive, merged into their successor's).
Organization 1 is the large customer: a tenth of the workshops, webinars, campaigns and
messages, all on its main phone, whose migration is the largest audit entry (~50k moved ids).

Ids spell a row's kind and position (`00000001-0002-4000-8000-000000000002` is organization
1's session 2), so every foreign key is computed rather than looked up. Phones are `+55119` and
eight digits: `+5511900012347` is the disconnected phone of organization 1,764.
"""

from __future__ import annotations

import contextlib
import math
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from sessions_app.gateway.base import SESSION_NAME_KEY
from sessions_app.references import count_keys

DEFAULT_SCALE = 1.0
SESSIONS_PER_ORGANIZATION = 10
GROUPS_PER_SESSION = 2
# The connected sessions of an organization that carry its rows.
LIVE_SESSIONS = (2, 4, 5, 6, 7, 8)
# A tenth of the events, campaigns and messages belong to organization 1.
LARGE_SHARE = 0.1


@dataclass(frozen=True)
class ScaleSize:
    organizations: int
    workshops: int
    webinars: int
    campaigns: int
    messages: int

    @classmethod
    def at(cls, scale: float) -> ScaleSize:
        return cls(
            organizations=max(2, round(2_000 * scale)),
            workshops=round(100_000 * scale),
            webinars=round(100_000 * scale),
            campaigns=round(200_000 * scale),
            messages=round(1_000_000 * scale),
        )

    def per_organization(self, total: int) -> int:
        """Rows of each organization but the first, which holds the rest (about a tenth)."""
        return math.floor(total * (1 - LARGE_SHARE) / (self.organizations - 1))

    def of_large(self, total: int) -> int:
        return total - self.per_organization(total) * (self.organizations - 1)


def scale_from_environment() -> float:
    return float(os.environ.get("BENCH_SCALE") or DEFAULT_SCALE)


# The second group of a row's id, per kind.
_ID_KINDS = {
    "organization": "0001",
    "session": "0002",
    "group": "0003",
    "workshops": "0004",
    "webinars": "0005",
    "campaigns": "0006",
    "messages": "0007",
    "migration": "0008",
}


def _id(kind: str, organization: str, number: str = "0") -> str:
    """SQL: the id of row `number` of `kind` in `organization` (text formatting: cheap)."""
    return (
        f"(lpad(to_hex({organization}), 8, '0') || '-{_ID_KINDS[kind]}-4000-8000-' || "
        f"lpad(to_hex({number}), 12, '0'))::uuid"
    )


def row_id(kind: str, organization: int, number: int = 0) -> uuid.UUID:
    """The id `_id` gives row `number` of `kind` in `organization`."""
    return uuid.UUID(f"{organization:08x}-{_ID_KINDS[kind]}-4000-8000-{number:012x}")


def organization_id(organization: int) -> uuid.UUID:
    return row_id("organization", organization)


def session_id(organization: int, number: int) -> uuid.UUID:
    return row_id("session", organization, number)


def sql_strings(values) -> str:
    """The code's own constants as SQL string literals, comma-separated: `'a', 'b'`."""
    return ", ".join("'" + str(value).replace("'", "''") + "'" for value in values)


def _active_campaign_statuses() -> str:
    from scheduling.models import NotificationCampaign

    return sql_strings(NotificationCampaign.ACTIVE_STATUSES)


def _rows_per_org(size: ScaleSize, total: int) -> str:
    """SQL: organizations `o` with `k` running over each one's share of `total` rows."""
    return (
        f"generate_series(1, {size.organizations}) AS o CROSS JOIN LATERAL generate_series(1, "
        f"CASE WHEN o = 1 THEN {size.of_large(total)} ELSE {size.per_organization(total)} END)"
        " AS k"
    )


def _live_session(k: str) -> str:
    """SQL: the number of the live session carrying row `k` (organization 1: always 2)."""
    return f"CASE WHEN o = 1 THEN 2 ELSE (ARRAY{list(LIVE_SESSIONS)})[1 + ({k}) % 6] END"


def build_scale_data(cursor, *, scale: float = DEFAULT_SCALE) -> ScaleSize:
    """Fill an empty, migrated database with the data set at `scale`, vacuumed and analyzed."""
    size = ScaleSize.at(scale)
    orgs = size.organizations
    # Foreign keys are right by construction: checking them row by row would double the time.
    cursor.execute("SET session_replication_role = replica")
    cursor.execute(
        f"""
        INSERT INTO organizations (id, name, created_at, community_session_id)
        SELECT {_id("organization", "o")}, 'Organization ' || lpad(o::text, 5, '0'),
               now() - interval '2 years', {_id("session", "o", "2")}
        FROM generate_series(1, {orgs}) AS o;

        -- Sessions 1 and 3 were superseded by 2 and 4 (same phones); 9 waits for its phone to
        -- reconnect; 10 is still connecting. Phone slots: 1-2 -> 0, 3-4 -> 1, 5..9 -> 2..6.
        INSERT INTO whatsapp_sessions (id, organization_id, phone_number, status, session_data,
            superseded_by_id, connected_at, disconnected_at, created_at, updated_at)
        SELECT {_id("session", "o", "j")}, {_id("organization", "o")},
               CASE WHEN j = 10 THEN NULL ELSE '+55119' || lpad(
                   ((o - 1) * 7 + CASE WHEN j <= 4 THEN (j - 1) / 2 ELSE j - 3 END)::text,
                   8, '0') END,
               CASE WHEN j IN (1, 3, 9) THEN 'disconnected' WHEN j = 10 THEN 'connecting'
                    ELSE 'connected' END,
               jsonb_build_object({sql_strings([SESSION_NAME_KEY])}, 'org' || o || '-' || j),
               CASE WHEN j IN (1, 3) THEN {_id("session", "o", "j + 1")} END,
               CASE WHEN j <> 10 THEN t - interval '1 day' * (j % 2) END,
               CASE WHEN j IN (1, 3, 9) THEN t END,
               t - interval '30 days' - interval '1 day' * (j % 2), t
        FROM generate_series(1, {orgs}) AS o
        CROSS JOIN generate_series(1, {SESSIONS_PER_ORGANIZATION}) AS j
        CROSS JOIN LATERAL (SELECT now() - interval '1 minute' * (o * 10 + j)) AS at(t);

        -- The old sessions' groups were re-synced under their successors: same jid, inactive.
        INSERT INTO whatsapp_groups (id, session_id, group_jid, name, is_active, created_at)
        SELECT {_id("group", "o", "j * 10 + g")}, {_id("session", "o", "j")},
               '1203630' || lpad((((o - 1) * 10 + j + (j IN (1, 3))::int) * 2 + g)::text,
                   11, '0') || '@g.us',
               'Group ' || o || '-' || j || '-' || g, j NOT IN (1, 3),
               now() - interval '1 year'
        FROM generate_series(1, {orgs}) AS o
        CROSS JOIN generate_series(1, {SESSIONS_PER_ORGANIZATION}) AS j
        CROSS JOIN generate_series(0, {GROUPS_PER_SESSION - 1}) AS g;
        """
    )
    for table, total in (("workshops", size.workshops), ("webinars", size.webinars)):
        with _indexes_built_after(cursor, table):
            cursor.execute(
                f"""
            INSERT INTO {table} (id, organization_id, title, starts_at, whatsapp_session_id,
                created_at, updated_at)
            SELECT {_id(table, "o", "k")}, {_id("organization", "o")},
                   '{table[:-1].title()} ' || o || '-' || k,
                   now() + interval '1 hour' * (k % 2000 - 1000),
                   {_id("session", "o", _live_session("k"))},
                   now() - interval '1 minute' * k, now()
            FROM {_rows_per_org(size, total)}
            """
            )
    finished_campaign_session = (
        f"CASE WHEN status IN ({_active_campaign_statuses()}) OR k % 3 <> 0 "
        f"THEN {_live_session('k')} ELSE 1 + 2 * (k % 2) END"
    )
    with _indexes_built_after(cursor, "notification_campaigns"):
        cursor.execute(
            f"""
        -- Finished campaigns stay on the sessions that sent them, superseded ones included.
        INSERT INTO notification_campaigns (id, organization_id, name, session_id, status, body,
            scheduled_at, created_at)
        SELECT {_id("campaigns", "o", "k")}, {_id("organization", "o")},
               'Campaign ' || o || '-' || k,
               {_id("session", "o", finished_campaign_session)},
               status, 'Hello', now() + interval '1 hour' * (k % 500 - 250),
               now() - interval '1 minute' * k
        FROM {_rows_per_org(size, size.campaigns)}
        CROSS JOIN LATERAL (SELECT (ARRAY['draft', 'scheduled', 'pending', 'sending',
            'completed', 'failed', 'cancelled'])[1 + k % 7]) AS s(status)
        """
        )
    with _indexes_built_after(cursor, "scheduled_whatsapp_messages"):
        _insert_messages(cursor, size)
    # Statistics for the audit's joins, and the visibility map index-only scans rely on.
    cursor.execute("VACUUM ANALYZE")
    _build_audit(cursor, orgs)
    cursor.execute("SET session_replication_role = DEFAULT")
    cursor.execute("VACUUM ANALYZE session_migrations")
    return size


@contextlib.contextmanager
def _indexes_built_after(cursor, table: str) -> Iterator[None]:
    """Drop `table`'s plain indexes for the block and build them again after it: one sort per
    index instead of a million random inserts."""
    cursor.execute(
        """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
           FROM pg_index i
           WHERE i.indrelid = %s::regclass
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""",
        [table],
    )
    indexes = cursor.fetchall()
    for name, _definition in indexes:
        cursor.execute(f"DROP INDEX {name}")
    yield
    for _name, definition in indexes:
        cursor.execute(definition)


def _insert_messages(cursor, size: ScaleSize) -> None:
    """Half for workshops, half for webinars of the same organization, spread over the groups
    of its live sessions, in every status. A workshop's and a webinar's message share each send
    time, so any page of messages in send order shows both kinds. Send times cover a year, half
    past and half to come, as an installation's history does; a message last changed when it
    was due (or now, for one still to come), so the last day holds about 1/360 of them."""
    wk, wb = size.per_organization(size.workshops), size.per_organization(size.webinars)
    lw, lb = size.of_large(size.workshops), size.of_large(size.webinars)
    workshop = f"1 + k / 2 % CASE WHEN o = 1 THEN {lw} ELSE {wk} END"
    webinar = f"1 + k / 2 % CASE WHEN o = 1 THEN {lb} ELSE {wb} END"
    cursor.execute(
        f"""
        INSERT INTO scheduled_whatsapp_messages (id, group_id, workshop_id, webinar_id, body,
            send_at, status, attempts, last_error, sent_at, claimed_by, gateway_message_id,
            created_at, updated_at)
        SELECT {_id("messages", "o", "k")},
               {_id("group", "o", _live_session("k / 2") + " * 10 + k % 2")},
               CASE WHEN k % 2 = 0 THEN {_id("workshops", "o", workshop)} END,
               CASE WHEN k % 2 = 1 THEN {_id("webinars", "o", webinar)} END,
               'Reminder ' || k, send_at,
               status, (status <> 'pending')::int, '',
               CASE WHEN status = 'sent' THEN LEAST(send_at, now()) END, '', '',
               LEAST(send_at - interval '30 days', now()), LEAST(send_at, now())
        FROM {_rows_per_org(size, size.messages)}
        CROSS JOIN LATERAL (SELECT (ARRAY['pending', 'sending', 'sent', 'failed',
            'cancelled'])[1 + k / 3 % 5]) AS s(status)
        CROSS JOIN LATERAL (SELECT now() + interval '52 minutes' * ((k + 1) / 2 % 10000 - 5000))
            AS t(send_at)
        """
    )


def _build_audit(cursor, orgs: int) -> None:
    """Each reconnected phone's move (1 -> 2 and 3 -> 4), naming the rows now on the new session
    that it moved: its events, active campaigns, pending messages and merged groups."""
    cursor.execute(
        f"""
        CREATE TEMPORARY TABLE bench_moves AS
        SELECT {_id("migration", "o", "j")} AS id, {_id("session", "o", "j")} AS old_id,
               {_id("session", "o", "j + 1")} AS new_id,
               {_id("organization", "o")} AS organization_id,
               now() - interval '1 minute' * (o * 10 + j) AS created_at
        FROM generate_series(1, {orgs}) AS o CROSS JOIN (VALUES (1), (3)) AS s(j);
        ANALYZE bench_moves;

        CREATE TEMPORARY TABLE bench_moved AS
        SELECT m.old_id, 'workshops' AS key, jsonb_agg(w.id::text) AS ids
        FROM bench_moves m JOIN workshops w ON w.whatsapp_session_id = m.new_id GROUP BY 1
        UNION ALL
        SELECT m.old_id, 'webinars', jsonb_agg(w.id::text)
        FROM bench_moves m JOIN webinars w ON w.whatsapp_session_id = m.new_id GROUP BY 1
        UNION ALL
        SELECT m.old_id, 'campaigns', jsonb_agg(c.id::text)
        FROM bench_moves m JOIN notification_campaigns c ON c.session_id = m.new_id
        WHERE c.status IN ({_active_campaign_statuses()}) GROUP BY 1
        UNION ALL
        SELECT m.old_id, 'organizations', jsonb_agg(x.id::text)
        FROM bench_moves m JOIN organizations x ON x.community_session_id = m.new_id GROUP BY 1
        UNION ALL
        SELECT m.old_id, 'groups_merged', jsonb_agg(g.id::text)
        FROM bench_moves m JOIN whatsapp_groups g ON g.session_id = m.old_id GROUP BY 1
        UNION ALL
        SELECT m.old_id, 'scheduled_messages', jsonb_agg(s.id::text)
        FROM bench_moves m JOIN whatsapp_groups g ON g.session_id = m.new_id
        JOIN scheduled_whatsapp_messages s ON s.group_id = g.id AND s.status = 'pending'
        GROUP BY 1;

        INSERT INTO session_migrations (id, organization_id, old_session_id, new_session_id,
            trigger, actor_id, forced, created_at, counts, moved_ids)
        SELECT m.id, m.organization_id, m.old_id, m.new_id, 'automatic', NULL, false,
               m.created_at,
               jsonb_object_agg(k.key, coalesce(jsonb_array_length(d.ids), 0)),
               jsonb_object_agg(k.key, coalesce(d.ids, '[]'))
        FROM bench_moves m
        CROSS JOIN unnest(ARRAY{count_keys()}) AS k(key)
        LEFT JOIN bench_moved d ON d.old_id = m.old_id AND d.key = k.key
        GROUP BY m.id, m.organization_id, m.old_id, m.new_id, m.created_at;

        DROP TABLE bench_moves, bench_moved;
        """
    )
