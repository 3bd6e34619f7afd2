"""Every foreign key to a session or a group declares what a migration does to it."""

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import models
from django.test.utils import isolate_apps

from scheduling import references as scheduling_references
from sessions_app import references
from sessions_app.checks import check_session_references_declared
from sessions_app.models import WhatsAppGroup, WhatsAppSession
from sessions_app.references import KeepHistory, Move, Reference, declared_references

SCHEDULING = scheduling_references.REFERENCES


def errors_for(app_configs=None):
    return [
        error
        for error in check_session_references_declared(app_configs=app_configs)
        if error.id.startswith("sessions_app.")
    ]


def test_the_project_declares_every_foreign_key():
    assert errors_for() == []
    call_command("check")


@pytest.fixture
def isolated():
    """A registry of its own for models defined in a test: nothing leaks into migrations."""
    with isolate_apps("sessions_app") as registry:
        yield registry


class TestAnUndeclaredForeignKeyFails:
    def test_to_a_session(self, isolated):
        class Reminder(models.Model):  # noqa: DJ008
            session = models.ForeignKey(WhatsAppSession, null=True, on_delete=models.SET_NULL)

            class Meta:
                app_label = "sessions_app"

        [error] = errors_for(isolated.get_app_configs())

        assert error.level == checks.ERROR
        assert error.id == "sessions_app.E001"
        assert "sessions_app.Reminder.session" in error.msg
        assert "sessions_app.WhatsAppSession" in error.msg
        assert "REFERENCES" in error.hint

    def test_to_a_group_and_one_to_one(self, isolated):
        class Poll(models.Model):  # noqa: DJ008
            group = models.OneToOneField(WhatsAppGroup, on_delete=models.PROTECT)
            ignored = models.CharField(max_length=10)

            class Meta:
                app_label = "sessions_app"

        [error] = errors_for(isolated.get_app_configs())

        assert "sessions_app.Poll.group" in error.msg
        assert "sessions_app.WhatsAppGroup" in error.msg

    def test_through_the_whole_check_framework(self, isolated):
        class Broadcast(models.Model):  # noqa: DJ008
            sender = models.ForeignKey(
                "sessions_app.WhatsAppSession", null=True, on_delete=models.SET_NULL
            )

            class Meta:
                app_label = "sessions_app"

        found = checks.run_checks(app_configs=isolated.get_app_configs())

        assert any(
            e.id == "sessions_app.E001" and "sessions_app.Broadcast.sender" in e.msg for e in found
        )

    def test_a_model_without_such_keys_passes(self, isolated):
        class Note(models.Model):  # noqa: DJ008
            text = models.TextField()

            class Meta:
                app_label = "sessions_app"

        assert errors_for(isolated.get_app_configs()) == []


def test_manage_py_check_names_a_forgotten_declaration(redeclare):
    forgotten = "scheduling.Webinar.whatsapp_session"
    redeclare(scheduling_references, [r for r in SCHEDULING if r.label != forgotten])

    with pytest.raises(SystemCheckError, match=r"scheduling\.Webinar\.whatsapp_session"):
        call_command("check")


def test_a_rule_that_does_not_fit_the_target_fails(redeclare):
    misplaced = "scheduling.ScheduledWhatsAppMessage.group"
    redeclare(
        scheduling_references,
        [Reference(r.label, Move("x", "X")) if r.label == misplaced else r for r in SCHEDULING],
    )

    [error] = errors_for()

    assert error.id == "sessions_app.E002" and misplaced in error.msg


def test_a_declaration_of_a_field_that_does_not_exist_fails(redeclare):
    redeclare(
        scheduling_references,
        [*SCHEDULING, Reference("scheduling.Workshop.backup_session", KeepHistory())],
    )

    [error] = errors_for()

    assert error.id == "sessions_app.E003" and "scheduling.Workshop.backup_session" in error.msg


def test_every_installed_app_declares_its_own_foreign_keys():
    declared = {ref.label for ref in declared_references()}

    assert {ref.label for ref in SCHEDULING} <= declared
    assert {ref.label for ref in references.REFERENCES} <= declared
    assert all(ref.model_label.startswith("scheduling.") for ref in SCHEDULING)
    assert all(ref.model_label.startswith("sessions_app.") for ref in references.REFERENCES)


@pytest.mark.django_db
def test_the_migration_reads_its_rules_from_the_declarations(redeclare):
    """Declaring webinars as history keeps them on the old session, with no code change."""
    from scheduling.models import Webinar
    from sessions_app.services.migration import migrate_session
    from tests.migration_helpers import give_references, new_then_old

    redeclare(
        scheduling_references,
        [
            Reference(r.label, KeepHistory()) if r.label.startswith("scheduling.Webinar.") else r
            for r in SCHEDULING
        ],
    )
    old, new = new_then_old()
    held = give_references(old)

    result = migrate_session(old, new, trigger="command")

    assert "webinars" not in result.counts
    assert result.counts["workshops"] == len(held.workshops)
    assert Webinar.objects.filter(whatsapp_session=old).count() == len(held.webinars)
