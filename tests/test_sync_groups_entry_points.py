"""`manage.py sync_groups` and the admin's "Sync groups from gateway" action."""

import io
import uuid
from http import HTTPStatus

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from sessions_app.gateway import GatewayGroup, RetryableGatewayError, locmem
from sessions_app.models import WhatsAppGroup, WhatsAppSession
from tests.admin_scenarios import staff_member
from tests.factories import (
    OrganizationFactory,
    ScheduledWhatsAppMessageFactory,
    WhatsAppGroupFactory,
    WhatsAppSessionFactory,
    WorkshopFactory,
)
from tests.migration_helpers import database_snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]


@pytest.fixture(autouse=True)
def gateway_groups():
    locmem.groups.clear()
    yield locmem.groups
    locmem.groups.clear()


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("sync_groups", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


class TestCommand:
    def test_one_session(self, gateway_groups):
        session = WhatsAppSessionFactory(session_data={"session_name": "aurora-2"})
        gone = WhatsAppGroupFactory(session=session, group_jid="999@g.us", name="Turma Z")
        workshop = WorkshopFactory(organization=session.organization, whatsapp_session=session)
        ScheduledWhatsAppMessageFactory(workshop=workshop, group=gone)
        gateway_groups["aurora-2"] = [GatewayGroup("111@g.us", "Turma A")]

        out, _ = run("--session", str(session.pk))

        assert f"{session.pk}: created 1, deactivated 1" in out
        assert "999@g.us (Turma Z) is no longer listed: 1 pending message waits on it" in out
        assert WhatsAppGroup.objects.get(group_jid="111@g.us").session_id == session.pk

    def test_an_organizations_live_sessions_and_what_was_skipped(self, gateway_groups):
        organization = OrganizationFactory()
        live = WhatsAppSessionFactory(
            organization=organization, session_data={"session_name": "a-2"}
        )
        WhatsAppSessionFactory(
            organization=organization, status=WhatsAppSession.Status.DISCONNECTED
        )
        other = WhatsAppSessionFactory(session_data={"session_name": "elsewhere"})
        gateway_groups["a-2"] = [GatewayGroup("111@g.us", "Turma A")]
        gateway_groups["elsewhere"] = [GatewayGroup("222@g.us", "Other")]

        out, _ = run("--organization", str(organization.pk))

        assert "1 synced, 0 failed, 1 skipped (superseded or not connected)" in out
        assert WhatsAppGroup.objects.filter(session=live).count() == 1
        assert not WhatsAppGroup.objects.filter(session=other).exists()

    def test_a_failed_sync_exits_non_zero_and_changes_nothing(self, gateway_groups):
        session = WhatsAppSessionFactory(session_data={"session_name": "aurora-2"})
        WhatsAppGroupFactory(session=session, group_jid="111@g.us")
        gateway_groups["aurora-2"] = RetryableGatewayError("The gateway timed out.")
        before = database_snapshot()

        with pytest.raises(CommandError) as caught:
            run("--session", str(session.pk))

        assert str(caught.value) == (
            f"Groups of session {session.pk} were not synced: The gateway timed out."
        )
        assert database_snapshot() == before

    def test_every_live_session_with_one_failing(self, gateway_groups):
        ok = WhatsAppSessionFactory(session_data={"session_name": "ok"})
        failing = WhatsAppSessionFactory(session_data={"session_name": "down"})
        gateway_groups["ok"] = [GatewayGroup("111@g.us", "Turma A")]
        gateway_groups["down"] = RetryableGatewayError("The gateway timed out.")

        with pytest.raises(CommandError, match="1 session could not be synced"):
            run()

        assert WhatsAppGroup.objects.filter(session=ok).count() == 1
        assert not WhatsAppGroup.objects.filter(session=failing).exists()

    @pytest.mark.parametrize(
        ("args", "reason"),
        [
            (["--session", "not-a-uuid"], "'not-a-uuid' is not a valid id for --session."),
            (["--session", str(uuid.UUID(int=1))], f"No session has id {uuid.UUID(int=1)}."),
            (["--session", ""], "--session needs an id; it was empty."),
            (["--organization", " "], "--organization needs an id; it was empty."),
            (["--organization", "x"], "'x' is not a valid id for --organization."),
        ],
    )
    def test_bad_input_is_refused_in_one_line(self, args, reason):
        WhatsAppSessionFactory(session_data={"session_name": "aurora"})
        before = database_snapshot()

        with pytest.raises(CommandError) as caught:
            run(*args)

        assert str(caught.value) == reason
        assert database_snapshot() == before

    def test_session_and_organization_together_are_refused(self):
        with pytest.raises(CommandError, match="not allowed with argument"):
            run("--session", str(uuid.uuid4()), "--organization", str(uuid.uuid4()))

    def test_a_superseded_session_says_which_to_sync(self):
        session = WhatsAppSessionFactory(status=WhatsAppSession.Status.DISCONNECTED)
        live = WhatsAppSessionFactory(organization=session.organization)
        WhatsAppSession.objects.filter(pk=session.pk).update(superseded_by=live)

        with pytest.raises(CommandError, match=f"superseded by {live.pk}; sync the live session"):
            run("--session", str(session.pk))


class TestAdminAction:
    def post(self, client, *sessions):
        return client.post(
            reverse("admin:sessions_app_whatsappsession_changelist"),
            {"action": "sync_groups_from_gateway", "_selected_action": [s.pk for s in sessions]},
            follow=True,
        )

    def test_syncs_the_selected_sessions_and_reports_each(self, admin_client, gateway_groups):
        ok = WhatsAppSessionFactory(session_data={"session_name": "ok"})
        failing = WhatsAppSessionFactory(session_data={"session_name": "down"})
        disconnected = WhatsAppSessionFactory(status=WhatsAppSession.Status.DISCONNECTED)
        gateway_groups["ok"] = [GatewayGroup("111@g.us", "Turma A")]
        gateway_groups["down"] = RetryableGatewayError("The gateway timed out.")

        response = self.post(admin_client, ok, failing, disconnected)

        assert response.status_code == HTTPStatus.OK
        notes = {str(m): m.level_tag for m in get_messages(response.wsgi_request)}
        assert notes[f"{ok}: groups synced (created 1)."] == "success"
        assert (
            notes[
                f"{failing}: Groups of session {failing.pk} were not synced: The gateway timed out."
            ]
            == "error"
        )
        # Nothing was done for it: a warning, not a green success.
        assert notes["Skipped 1 session that is superseded or not connected."] == "warning"
        assert list(WhatsAppGroup.objects.values_list("session_id", "name")) == [(ok.pk, "Turma A")]

    def test_staff_sync_only_their_organizations_sessions(self, client, gateway_groups):
        own = WhatsAppSessionFactory(session_data={"session_name": "own"})
        foreign = WhatsAppSessionFactory(session_data={"session_name": "foreign"})
        gateway_groups["own"] = [GatewayGroup("111@g.us", "Ours")]
        gateway_groups["foreign"] = [GatewayGroup("222@g.us", "Theirs")]
        client.force_login(staff_member(own.organization))

        self.post(client, own, foreign)

        assert list(WhatsAppGroup.objects.values_list("name", flat=True)) == ["Ours"]

    def test_needs_the_change_permission(self, client, gateway_groups):
        session = WhatsAppSessionFactory(session_data={"session_name": "own"})
        gateway_groups["own"] = [GatewayGroup("111@g.us", "Ours")]
        client.force_login(
            staff_member(session.organization, permissions=["sessions_app.view_whatsappsession"])
        )

        response = self.post(client, session)

        assert "sync_groups_from_gateway" not in response.content.decode()
        assert not WhatsAppGroup.objects.exists()
