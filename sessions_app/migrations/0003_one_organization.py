"""Every reference stays inside its organization, enforced by PostgreSQL.

- Workshops, webinars and campaigns: a composite foreign key `(organization_id, session_id)` to
  `whatsapp_sessions (organization_id, id)`; an organization's community session likewise with
  `(id, community_session_id)`. A null session is not checked (MATCH SIMPLE).
- A group has no organization of its own: it is its session's.
- A scheduled message's group (through its session) and its event belong to one organization: a
  statement trigger on each table that can break that checks the rows the statement changed.

An existing database that breaks the rule stops this migration with the rows to fix first.
SQLite (`make run`) gets none of this: the forms and services refuse such rows there too.
"""

from django.db import migrations

from sessions_app.organization_rules import refuse_cross_organization_rows

COMPOSITE_KEYS = [
    # (table, constraint, columns)
    ("workshops", "workshops_session_same_organization", "organization_id, whatsapp_session_id"),
    ("webinars", "webinars_session_same_organization", "organization_id, whatsapp_session_id"),
    (
        "notification_campaigns",
        "notification_campaigns_session_same_organization",
        "organization_id, session_id",
    ),
    ("organizations", "organizations_community_session_same_organization", "id, community_session_id"),
]

MESSAGE_CHECK_FUNCTION = """
CREATE FUNCTION scheduled_messages_one_organization() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  offending uuid;
BEGIN
  -- The messages the statement may have put across organizations, checked in one query.
  IF TG_TABLE_NAME = 'scheduled_whatsapp_messages' AND TG_OP = 'INSERT' THEN
    SELECT m.id INTO offending FROM changed m
      JOIN whatsapp_groups g ON g.id = m.group_id
      JOIN whatsapp_sessions s ON s.id = g.session_id
      LEFT JOIN workshops w ON w.id = m.workshop_id
      LEFT JOIN webinars b ON b.id = m.webinar_id
     WHERE s.organization_id IS DISTINCT FROM COALESCE(w.organization_id, b.organization_id)
     LIMIT 1;
  ELSIF TG_TABLE_NAME = 'scheduled_whatsapp_messages' THEN
    SELECT m.id INTO offending FROM changed m
      JOIN before o ON o.id = m.id
      JOIN whatsapp_groups g ON g.id = m.group_id
      JOIN whatsapp_sessions s ON s.id = g.session_id
      LEFT JOIN workshops w ON w.id = m.workshop_id
      LEFT JOIN webinars b ON b.id = m.webinar_id
     WHERE (o.group_id, o.workshop_id, o.webinar_id)
           IS DISTINCT FROM (m.group_id, m.workshop_id, m.webinar_id)
       AND s.organization_id IS DISTINCT FROM COALESCE(w.organization_id, b.organization_id)
     LIMIT 1;
  ELSIF TG_TABLE_NAME = 'whatsapp_groups' THEN
    SELECT m.id INTO offending FROM changed c
      JOIN before o ON o.id = c.id AND o.session_id <> c.session_id
      JOIN scheduled_whatsapp_messages m ON m.group_id = c.id
      JOIN whatsapp_sessions s ON s.id = c.session_id
      LEFT JOIN workshops w ON w.id = m.workshop_id
      LEFT JOIN webinars b ON b.id = m.webinar_id
     WHERE s.organization_id IS DISTINCT FROM COALESCE(w.organization_id, b.organization_id)
     LIMIT 1;
  ELSIF TG_TABLE_NAME = 'whatsapp_sessions' THEN
    SELECT m.id INTO offending FROM changed c
      JOIN before o ON o.id = c.id AND o.organization_id <> c.organization_id
      JOIN whatsapp_groups g ON g.session_id = c.id
      JOIN scheduled_whatsapp_messages m ON m.group_id = g.id
      LEFT JOIN workshops w ON w.id = m.workshop_id
      LEFT JOIN webinars b ON b.id = m.webinar_id
     WHERE c.organization_id IS DISTINCT FROM COALESCE(w.organization_id, b.organization_id)
     LIMIT 1;
  ELSE  -- workshops, webinars: the event's organization changed
    EXECUTE format(
      'SELECT m.id FROM changed c JOIN before o ON o.id = c.id'
      ' AND o.organization_id <> c.organization_id'
      ' JOIN scheduled_whatsapp_messages m ON m.%I = c.id'
      ' JOIN whatsapp_groups g ON g.id = m.group_id'
      ' JOIN whatsapp_sessions s ON s.id = g.session_id'
      ' WHERE s.organization_id <> c.organization_id LIMIT 1',
      CASE TG_TABLE_NAME WHEN 'workshops' THEN 'workshop_id' ELSE 'webinar_id' END
    ) INTO offending;
  END IF;
  IF offending IS NOT NULL THEN
    RAISE EXCEPTION 'Scheduled message % and its group belong to different organizations than '
      'its workshop or webinar.', offending
      USING ERRCODE = 'check_violation',
            CONSTRAINT = 'scheduled_message_one_organization';
  END IF;
  RETURN NULL;
END
$$;
"""

# (table, events): one statement trigger per event, since a trigger with transition tables
# fires for one event only.
MESSAGE_CHECK_TRIGGERS = [
    ("scheduled_whatsapp_messages", "INSERT"),
    ("scheduled_whatsapp_messages", "UPDATE"),
    ("whatsapp_groups", "UPDATE"),
    ("whatsapp_sessions", "UPDATE"),
    ("workshops", "UPDATE"),
    ("webinars", "UPDATE"),
]


def _trigger_name(table: str, event: str) -> str:
    return f"{table}_one_organization_{event.lower()}"


def _forward_sql() -> list[str]:
    statements = [
        "ALTER TABLE whatsapp_sessions ADD CONSTRAINT whatsapp_sessions_organization_id_key"
        " UNIQUE (organization_id, id)"
    ]
    statements += [
        f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({columns})"
        " REFERENCES whatsapp_sessions (organization_id, id)"
        for table, name, columns in COMPOSITE_KEYS
    ]
    statements.append(MESSAGE_CHECK_FUNCTION)
    for table, event in MESSAGE_CHECK_TRIGGERS:
        transitions = (
            "NEW TABLE AS changed" if event == "INSERT" else "OLD TABLE AS before NEW TABLE AS changed"
        )
        statements.append(
            f"CREATE TRIGGER {_trigger_name(table, event)} AFTER {event} ON {table}"
            f" REFERENCING {transitions} FOR EACH STATEMENT"
            " EXECUTE FUNCTION scheduled_messages_one_organization()"
        )
    return statements


def _backward_sql() -> list[str]:
    statements = [
        f"DROP TRIGGER {_trigger_name(table, event)} ON {table}"
        for table, event in MESSAGE_CHECK_TRIGGERS
    ]
    statements.append("DROP FUNCTION scheduled_messages_one_organization()")
    statements += [f"ALTER TABLE {table} DROP CONSTRAINT {name}" for table, name, _ in COMPOSITE_KEYS]
    statements.append(
        "ALTER TABLE whatsapp_sessions DROP CONSTRAINT whatsapp_sessions_organization_id_key"
    )
    return statements


def enforce(apps, schema_editor):
    refuse_cross_organization_rows(schema_editor.connection)
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in _forward_sql():
        schema_editor.execute(sql, params=None)


def relax(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in _backward_sql():
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("sessions_app", "0002_undo_links"),
        ("scheduling", "0002_dispatcher_claims_and_pacing"),
    ]

    operations = [migrations.RunPython(enforce, relax)]
