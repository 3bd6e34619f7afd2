"""The migration that makes gateway names unique deals with databases that break the rule."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]

BEFORE = [("sessions_app", "0001_initial")]
AFTER = [("sessions_app", "0002_gateway_boundary")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_duplicates_and_non_objects_are_kept_but_only_the_newest_answers():
    apps = migrate(BEFORE)
    try:
        Organization = apps.get_model("sessions_app", "Organization")
        Session = apps.get_model("sessions_app", "WhatsAppSession")
        ours, theirs = (Organization.objects.create(name=n) for n in ("Ours", "Theirs"))
        older = Session.objects.create(organization=ours, session_data={"session_name": "main"})
        newer = Session.objects.create(organization=theirs, session_data={"session_name": "main"})
        superseded = Session.objects.create(
            organization=ours, session_data={"session_name": "main"}, superseded_by=newer
        )
        shapes = {
            Session.objects.create(organization=ours, session_data=value).pk: value
            for value in (["a", 1], "just text", 42)
        }

        apps = migrate(AFTER)

        Session = apps.get_model("sessions_app", "WhatsAppSession")
        data = dict(Session.objects.values_list("pk", "session_data"))
        assert data[newer.pk] == {"session_name": "main"}
        assert data[older.pk] == {"former_session_name": "main"}
        assert data[superseded.pk] == {"session_name": "main"}  # no longer live: left as history
        for pk, value in shapes.items():
            assert data[pk] == {"invalid_session_data": value}
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
