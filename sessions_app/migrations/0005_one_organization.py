"""Every reference stays inside its organization, enforced by PostgreSQL.

- Workshops, webinars and campaigns: a composite foreign key `(organization_id, session_id)` to
  `whatsapp_sessions (organization_id, id)`; an organization's community session likewise with
  `(id, community_session_id)`. A null session is not checked (MATCH SIMPLE).
- A group has no organization of its own: it is its session's.
- A scheduled message's group (through its session) and its event belong to one organization: a
  trigger on each table that can break that checks the rows that changed.

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
  IF TG_LEVEL = 'STATEMENT' THEN  -- messages inserted, all checked in one query
    SELECT m.id INTO offending FROM changed m
      JOIN whatsapp_groups g ON g.id = m.group_id
      JOIN whatsapp_sessions s ON s.id = g.session_id
      LEFT JOIN workshops w ON w.id = m.workshop_id
      LEFT JOIN webinars b ON b.id = m.webinar_id
     WHERE s.organization_id IS DISTINCT FROM COALESCE(w.organization_id, b.organization_id)
     LIMIT 1;
  ELSIF TG_TABLE_NAME = 'scheduled_whatsapp_messages' THEN
    SELECT NEW.id INTO offending FROM whatsapp_groups g
      JOIN whatsapp_sessions s ON s.id = g.session_id
      LEFT JOIN workshops w ON w.id = NEW.workshop_id
      LEFT JOIN webinars b ON b.id = NEW.webinar_id
     WHERE g.id = NEW.group_id
       AND s.organization_id IS DISTINCT FROM COALESCE(w.organization_id, b.organization_id);
  ELSIF TG_TABLE_NAME = 'whatsapp_groups' THEN
    -- A group moving between sessions of one organization cannot break the rule.
    IF (SELECT organization_id FROM whatsapp_sessions WHERE id = OLD.session_id)
       IS DISTINCT FROM (SELECT organization_id FROM whatsapp_sessions WHERE id = NEW.session_id)
    THEN
      SELECT m.id INTO offending FROM scheduled_whatsapp_messages m
        JOIN whatsapp_sessions s ON s.id = NEW.session_id
        LEFT JOIN workshops w ON w.id = m.workshop_id
        LEFT JOIN webinars b ON b.id = m.webinar_id
       WHERE m.group_id = NEW.id
         AND s.organization_id IS DISTINCT FROM COALESCE(w.organization_id, b.organization_id)
       LIMIT 1;
    END IF;
  ELSIF TG_TABLE_NAME = 'whatsapp_sessions' THEN
    SELECT m.id INTO offending FROM whatsapp_groups g
      JOIN scheduled_whatsapp_messages m ON m.group_id = g.id
      LEFT JOIN workshops w ON w.id = m.workshop_id
      LEFT JOIN webinars b ON b.id = m.webinar_id
     WHERE g.session_id = NEW.id
       AND NEW.organization_id IS DISTINCT FROM COALESCE(w.organization_id, b.organization_id)
     LIMIT 1;
  ELSE  -- workshops, webinars
    EXECUTE format(
      'SELECT m.id FROM scheduled_whatsapp_messages m'
      ' JOIN whatsapp_groups g ON g.id = m.group_id'
      ' JOIN whatsapp_sessions s ON s.id = g.session_id'
      ' WHERE m.%I = $1 AND s.organization_id <> $2 LIMIT 1',
      CASE TG_TABLE_NAME WHEN 'workshops' THEN 'workshop_id' ELSE 'webinar_id' END
    ) INTO offending USING NEW.id, NEW.organization_id;
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

# (trigger name, table, timing and condition). Inserted messages are checked per statement;
# updates per row, and only when a column the rule reads changed, so the dispatcher's status
# updates and a migration's moves inside one organization cost next to nothing.
MESSAGE_CHECK_TRIGGERS = [
    (
        "scheduled_whatsapp_messages_one_organization_insert",
        "scheduled_whatsapp_messages",
        "AFTER INSERT ON {table} REFERENCING NEW TABLE AS changed FOR EACH STATEMENT",
    ),
    (
        "scheduled_whatsapp_messages_one_organization_update",
        "scheduled_whatsapp_messages",
        "AFTER UPDATE OF group_id, workshop_id, webinar_id ON {table} FOR EACH ROW"
        " WHEN (OLD.group_id IS DISTINCT FROM NEW.group_id"
        " OR OLD.workshop_id IS DISTINCT FROM NEW.workshop_id"
        " OR OLD.webinar_id IS DISTINCT FROM NEW.webinar_id)",
    ),
    (
        "whatsapp_groups_one_organization_update",
        "whatsapp_groups",
        "AFTER UPDATE OF session_id ON {table} FOR EACH ROW"
        " WHEN (OLD.session_id IS DISTINCT FROM NEW.session_id)",
    ),
    *(
        (
            f"{table}_one_organization_update",
            table,
            "AFTER UPDATE OF organization_id ON {table} FOR EACH ROW"
            " WHEN (OLD.organization_id IS DISTINCT FROM NEW.organization_id)",
        )
        for table in ("whatsapp_sessions", "workshops", "webinars")
    ),
]


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
    statements += [
        f"CREATE TRIGGER {name} {when.format(table=table)}"
        " EXECUTE FUNCTION scheduled_messages_one_organization()"
        for name, table, when in MESSAGE_CHECK_TRIGGERS
    ]
    return statements


def _backward_sql() -> list[str]:
    statements = [f"DROP TRIGGER {name} ON {table}" for name, table, _ in MESSAGE_CHECK_TRIGGERS]
    statements.append("DROP FUNCTION scheduled_messages_one_organization()")
    statements += [
        f"ALTER TABLE {table} DROP CONSTRAINT {name}" for table, name, _ in COMPOSITE_KEYS
    ]
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
        ("sessions_app", "0004_undo_links"),
        ("scheduling", "0002_dispatcher_claims_and_pacing"),
    ]

    operations = [migrations.RunPython(enforce, relax)]
