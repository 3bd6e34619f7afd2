"""The one-organization check of scheduled messages takes the row locks its rule reads.

Without them, two transactions could each pass the check and together break the rule: one
inserts a message on a group while the other moves that group, or the message's workshop, to
another organization; neither sees the other's uncommitted row. The check now locks the
message's workshop or webinar, then its group, `FOR SHARE` before it reads them, so the writer
that changes one of those rows waits for the message's transaction, or the message's check waits
for the writer and then reads what it committed.

The order (events, then groups) is the order in which a migration writes those tables, so a
message written during a migration waits for it instead of deadlocking with it.
"""

from django.db import migrations

LOCKED_CHECK_FUNCTION = """
CREATE OR REPLACE FUNCTION scheduled_messages_one_organization() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  offending uuid;
BEGIN
  IF TG_LEVEL = 'STATEMENT' THEN  -- messages inserted, all checked in one query
    PERFORM 1 FROM workshops w WHERE w.id IN (SELECT workshop_id FROM changed)
      ORDER BY w.id FOR SHARE;
    PERFORM 1 FROM webinars b WHERE b.id IN (SELECT webinar_id FROM changed)
      ORDER BY b.id FOR SHARE;
    PERFORM 1 FROM whatsapp_groups g WHERE g.id IN (SELECT group_id FROM changed)
      ORDER BY g.id FOR SHARE;
    SELECT m.id INTO offending FROM changed m
      JOIN whatsapp_groups g ON g.id = m.group_id
      JOIN whatsapp_sessions s ON s.id = g.session_id
      LEFT JOIN workshops w ON w.id = m.workshop_id
      LEFT JOIN webinars b ON b.id = m.webinar_id
     WHERE s.organization_id IS DISTINCT FROM COALESCE(w.organization_id, b.organization_id)
     LIMIT 1;
  ELSIF TG_TABLE_NAME = 'scheduled_whatsapp_messages' THEN
    IF NEW.workshop_id IS NOT NULL THEN
      PERFORM 1 FROM workshops WHERE id = NEW.workshop_id FOR SHARE;
    END IF;
    IF NEW.webinar_id IS NOT NULL THEN
      PERFORM 1 FROM webinars WHERE id = NEW.webinar_id FOR SHARE;
    END IF;
    PERFORM 1 FROM whatsapp_groups WHERE id = NEW.group_id FOR SHARE;
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


def _unlocked_check_function() -> str:
    from importlib import import_module

    previous = import_module("sessions_app.migrations.0005_one_organization")
    return previous.MESSAGE_CHECK_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")


def lock(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(LOCKED_CHECK_FUNCTION, params=None)


def unlock(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_unlocked_check_function(), params=None)


class Migration(migrations.Migration):
    dependencies = [("sessions_app", "0005_one_organization")]

    operations = [migrations.RunPython(lock, unlock)]
