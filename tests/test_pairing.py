"""Pairing a phone and logging a session out from the admin, against the fake WAHA (and the fake
VPS service) over HTTP; every refusal leaves the database and the gateway as they were."""

import json
import re
import uuid
from http import HTTPStatus

import pytest
from django.conf import settings
from django.contrib.admin.models import ADDITION, LogEntry
from django.urls import reverse

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage
from sessions_app.gateway import locmem
from sessions_app.models import Organization, SessionMigration, WhatsAppSession
from sessions_app.services.gateway_status import webhook_signature
from sessions_app.services.pairing import (
    SessionLifecycleError,
    gateway_session_name,
    pairing_progress,
    pairing_start,
    session_create_from_gateway_metadata,
)
from tests import factories
from tests.admin_scenarios import STAFF_PERMISSIONS, staff_member
from tests.fake_waha import FakeWaha
from tests.pairing_scenarios import (
    MOVED_WITH_A_RESYNCED_GROUP,
    PAIRING_PERMISSIONS,
    WEBHOOK_SECRET,
    database_state,
    dropped_phone,
    fake_vps,
    fake_waha,
    resync_a_group,
    session_url,
    use_fake_vps,
    use_fake_waha,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

WEBHOOK_URL = "https://admin.example.org/webhooks/whatsapp/"
PHONE = "+5511987654321"
OTHER_PHONE = "+5521998765432"


@pytest.fixture
def waha(settings):
    with fake_waha() as server:
        use_fake_waha(settings, server, webhook_url=WEBHOOK_URL)
        yield server


@pytest.fixture
def scene():
    return dropped_phone(factories.OrganizationFactory(name="Instituto Aurora"), phone_number=PHONE)


@pytest.fixture
def staff_client(client, scene):
    client.force_login(staff_member(scene.organization, permissions=PAIRING_PERMISSIONS))
    return client


def new_session(scene) -> WhatsAppSession:
    return WhatsAppSession.objects.exclude(pk=scene.old.pk).get(organization=scene.organization)


class TestGatewayNames:
    def test_organization_slug_and_short_id(self):
        organization = factories.OrganizationFactory(name="Escola Técnica São João")
        session_id = uuid.UUID("1f2e3d4c-0000-4000-8000-000000000000")
        name = gateway_session_name(organization=organization, session_id=session_id)
        assert name == "escola-tecnica-sao-joao-1f2e3d4c"

    def test_a_taken_name_grows_its_id_part(self):
        organization = factories.OrganizationFactory(name="Aurora")
        session_id = uuid.UUID("1f2e3d4c-5b6a-4000-8000-000000000000")
        factories.WhatsAppSessionFactory(session_data={"session_name": "aurora-1f2e3d4c"})
        name = gateway_session_name(organization=organization, session_id=session_id)
        assert name == "aurora-1f2e3d4c5b6a"

    def test_a_name_without_letters_still_reads(self):
        organization = factories.OrganizationFactory(name="???")
        name = gateway_session_name(organization=organization, session_id=uuid.uuid4())
        assert re.fullmatch(r"organization-[0-9a-f]{8}", name)

    def test_renaming_the_organization_keeps_the_stored_name(self, waha, scene):
        session = pairing_start(organization=scene.organization, predecessor=scene.old)
        name = session.gateway_session_name
        Organization.objects.filter(pk=scene.organization.pk).update(name="Renamed")
        session.refresh_from_db()
        assert session.gateway_session_name == name
        assert name.startswith("instituto-aurora-")


class TestPairAgain:
    def test_a_disconnected_sessions_page_offers_it(self, staff_client, scene):
        page = staff_client.get(session_url("change", scene.old.pk))
        assert b'id="pair-again"' in page.content
        assert b'id="log-out"' in page.content

    def test_a_connected_sessions_page_does_not(self, staff_client, scene):
        connected = factories.WhatsAppSessionFactory(organization=scene.organization)
        page = staff_client.get(session_url("change", connected.pk))
        assert b'id="pair-again"' not in page.content

    def test_the_confirmation_page_changes_nothing(self, waha, staff_client, scene):
        before = database_state()
        response = staff_client.get(session_url("pair", scene.old.pk))
        assert response.status_code == HTTPStatus.OK
        assert b'id="start-pairing"' in response.content
        assert database_state() == before
        assert waha.requests == []

    def test_starts_a_session_on_the_gateway_and_opens_the_pairing_page(
        self, waha, staff_client, scene
    ):
        response = staff_client.post(session_url("pair", scene.old.pk))

        session = new_session(scene)
        assert response.status_code == HTTPStatus.FOUND
        assert response.url == session_url("pairing", session.pk, f"predecessor={scene.old.pk}")
        assert (session.status, session.phone_number) == ("connecting", None)
        name = session.gateway_session_name
        assert name == f"instituto-aurora-{session.pk.hex[:8]}"
        assert waha.sessions[name] == {
            "metadata": {"organization": str(scene.organization.pk), "session": str(session.pk)},
            "webhooks": [
                {
                    "url": WEBHOOK_URL,
                    "events": ["session.status"],
                    "hmac": {"key": WEBHOOK_SECRET},
                }
            ],
        }
        entry = LogEntry.objects.get(object_id=str(session.pk))
        assert entry.action_flag == ADDITION

    def test_the_pairing_page_shows_the_qr_and_the_phone_for_a_code(
        self, waha, staff_client, scene
    ):
        staff_client.post(session_url("pair", scene.old.pk))
        session = new_session(scene)

        page = staff_client.get(session_url("pairing", session.pk, f"predecessor={scene.old.pk}"))
        assert page.status_code == HTTPStatus.OK
        content = page.content.decode()
        assert 'id="pairing-qr-image"' in content
        assert f'value="{PHONE}"' in content  # the old session's phone, one click from a code
        assert "sessions_app/pairing.js" in content
        assert 'id="pairing-simulate' not in content  # WAHA pairs real phones only

        qr = staff_client.get(session_url("pairing_qr", session.pk))
        assert (qr.status_code, qr["Content-Type"]) == (HTTPStatus.OK, "image/png")
        assert qr.content.startswith(b"\x89PNG")

        code = staff_client.post(session_url("pairing_code", session.pk), {"phone_number": PHONE})
        assert code.json() == {"code": "ABCD-EFGH"}
        assert waha.requests[-1].json == {"phoneNumber": PHONE.lstrip("+")}

    def test_an_unreadable_phone_gets_no_code_and_reaches_no_gateway(
        self, waha, staff_client, scene
    ):
        session = pairing_start(organization=scene.organization, predecessor=scene.old)
        waha.requests.clear()
        answer = staff_client.post(
            session_url("pairing_code", session.pk), {"phone_number": "not a phone"}
        )
        assert answer.status_code == HTTPStatus.BAD_GATEWAY
        assert "phone" in answer.json()["error"].lower()
        assert waha.requests == []

    def test_status_polls_in_a_fixed_number_of_queries(
        self, waha, staff_client, scene, django_assert_max_num_queries
    ):
        session = pairing_start(organization=scene.organization, predecessor=scene.old)
        url = session_url("pairing_status", session.pk, f"predecessor={scene.old.pk}")
        staff_client.get(url)  # the login's session row is read once per request anyway
        with django_assert_max_num_queries(8):
            answer = staff_client.get(url).json()
        assert answer["outcome"] == "waiting"
        assert answer["status"] == "connecting"
        assert answer["migrations"] == []

    def test_the_list_action_opens_the_pairing_of_one_session(self, staff_client, scene):
        response = staff_client.post(
            reverse("admin:sessions_app_whatsappsession_changelist"),
            {"action": "pair_again", "_selected_action": [str(scene.old.pk)]},
        )
        assert response.status_code == HTTPStatus.FOUND
        assert response.url == session_url("pair", scene.old.pk)

    def test_the_list_action_wants_exactly_one_session(self, waha, staff_client, scene):
        other = factories.WhatsAppSessionFactory(
            organization=scene.organization, status=WhatsAppSession.Status.DISCONNECTED
        )
        before = database_state()
        response = staff_client.post(
            reverse("admin:sessions_app_whatsappsession_changelist"),
            {"action": "pair_again", "_selected_action": [str(scene.old.pk), str(other.pk)]},
            follow=True,
        )
        assert "Select exactly one session" in response.content.decode()
        assert database_state() == before
        assert waha.requests == []

    def test_the_confirmation_says_why_a_connected_session_is_not_paired_again(
        self, waha, staff_client, scene
    ):
        connected = factories.WhatsAppSessionFactory(organization=scene.organization)
        page = staff_client.get(session_url("pair", connected.pk)).content.decode()
        assert "only a disconnected session" in page
        assert 'id="start-pairing"' not in page

    def test_a_connected_session_is_not_paired_again(self, waha, scene):
        connected = factories.WhatsAppSessionFactory(organization=scene.organization)
        before = database_state()
        with pytest.raises(SessionLifecycleError, match="only a disconnected session"):
            pairing_start(organization=scene.organization, predecessor=connected)
        assert database_state() == before
        assert waha.requests == []


def _refuse_by_stopping_the_gateway(waha, settings):
    with FakeWaha() as stopped:
        settings.WHATSAPP_GATEWAY_URL = stopped.url
    return "unreachable"


def _refuse_with_a_4xx(waha, settings):
    waha.script.append((HTTPStatus.NOT_FOUND, {"message": "Not found"}))  # the existence check
    waha.script.append((HTTPStatus.UNPROCESSABLE_ENTITY, {"message": "Session name is taken"}))
    return "Session name is taken"


class TestRefusals:
    @pytest.mark.parametrize("refuse", [_refuse_by_stopping_the_gateway, _refuse_with_a_4xx])
    def test_a_gateway_that_fails_leaves_no_session(
        self, waha, settings, staff_client, scene, refuse
    ):
        reason = refuse(waha, settings)
        before = database_state()

        response = staff_client.post(session_url("pair", scene.old.pk), follow=True)

        (message,) = [str(m) for m in response.context["messages"]]
        assert message.startswith("Nothing was paired. The gateway did not start the session:")
        assert reason in message
        assert "\n" not in message
        assert database_state() == before
        assert waha.sessions == {}

    def test_another_organizations_session_does_not_exist(self, waha, client, scene):
        elsewhere = factories.OrganizationFactory()
        client.force_login(staff_member(elsewhere, permissions=PAIRING_PERMISSIONS))
        before = database_state()

        for name in ("pair", "pairing", "pairing_status", "pairing_qr"):
            assert client.get(session_url(name, scene.old.pk)).status_code == HTTPStatus.NOT_FOUND
        assert client.post(session_url("pair", scene.old.pk)).status_code == HTTPStatus.NOT_FOUND
        answer = client.post(session_url("pairing_code", scene.old.pk), {"phone_number": PHONE})
        assert answer.status_code == HTTPStatus.NOT_FOUND
        org_pair = reverse("admin:sessions_app_organization_pair", args=[scene.organization.pk])
        assert client.post(org_pair).status_code == HTTPStatus.NOT_FOUND

        assert database_state() == before
        assert waha.requests == []

    def test_a_predecessor_of_another_organization_does_not_exist(self, waha, client, scene):
        # A member of both organizations sees both sessions, yet a phone of one never takes
        # over the references of the other's.
        elsewhere = dropped_phone(factories.OrganizationFactory(), phone_number=OTHER_PHONE)
        member = staff_member(
            scene.organization, elsewhere.organization, permissions=PAIRING_PERMISSIONS
        )
        client.force_login(member)
        session = pairing_start(organization=scene.organization, predecessor=scene.old)
        before = database_state()

        for name in ("pairing", "pairing_status", "pairing_qr"):
            own = session_url(name, session.pk, f"predecessor={scene.old.pk}")
            assert client.get(own).status_code == HTTPStatus.OK, name
            theirs = session_url(name, session.pk, f"predecessor={elsewhere.old.pk}")
            assert client.get(theirs).status_code == HTTPStatus.NOT_FOUND, name
        answer = client.post(
            session_url("pairing_code", session.pk, f"predecessor={elsewhere.old.pk}"),
            {"phone_number": PHONE},
        )
        assert answer.status_code == HTTPStatus.NOT_FOUND

        assert database_state() == before

    def test_without_the_add_permission_nothing_is_paired(self, waha, client, scene):
        client.force_login(staff_member(scene.organization, permissions=STAFF_PERMISSIONS))
        before = database_state()

        page = client.get(session_url("change", scene.old.pk))
        assert b'id="pair-again"' not in page.content
        assert client.post(session_url("pair", scene.old.pk)).status_code == HTTPStatus.FORBIDDEN
        org_pair = reverse("admin:sessions_app_organization_pair", args=[scene.organization.pk])
        assert client.post(org_pair).status_code == HTTPStatus.FORBIDDEN
        actions = client.get(reverse("admin:sessions_app_whatsappsession_changelist"))
        assert b'value="pair_again"' not in actions.content

        assert database_state() == before
        assert waha.requests == []

    def test_a_malformed_id_does_not_exist(self, waha, staff_client):
        assert staff_client.get(session_url("pair", "not-a-uuid")).status_code == 404
        org_pair = reverse("admin:sessions_app_organization_pair", args=["not-a-uuid"])
        assert staff_client.post(org_pair).status_code == HTTPStatus.NOT_FOUND
        assert waha.requests == []


class TestPairANewPhone:
    def test_the_organizations_page_offers_it(self, staff_client, scene):
        url = reverse("admin:sessions_app_organization_change", args=[scene.organization.pk])
        assert b'id="pair-new-phone"' in staff_client.get(url).content

    def test_starts_a_session_without_a_predecessor(self, waha, staff_client, scene):
        url = reverse("admin:sessions_app_organization_pair", args=[scene.organization.pk])
        response = staff_client.post(url)

        session = new_session(scene)
        assert response.url == session_url("pairing", session.pk)
        assert waha.sessions[session.gateway_session_name]["metadata"] == {
            "organization": str(scene.organization.pk),
            "session": str(session.pk),
        }
        page = staff_client.get(response.url)
        assert 'id="pairing-code-phone" value=""' in page.content.decode()


class TestWithTheVpsGateway:
    """The original system's gateway service: its own name key, the QR code only, and its own
    webhook secret."""

    @pytest.fixture
    def vps(self, settings):
        with fake_vps(webhook_url="https://admin.example.org/webhooks/vps/") as server:
            use_fake_vps(settings, server)
            yield server

    def test_the_session_is_named_by_vps_session_id_everywhere_staff_look(
        self, vps, staff_client, scene
    ):
        staff_client.post(session_url("pair", scene.old.pk))

        session = new_session(scene)
        name = session.session_data["vps_session_id"]
        assert session.session_data == {"vps_session_id": name}
        assert (vps.requests[-1].path, vps.requests[-1].json) == ("/connect", {"sessionId": name})
        entry = LogEntry.objects.get(object_id=str(session.pk))
        assert entry.get_change_message() == f"Started pairing on the gateway as {name}."
        page = staff_client.get(session_url("change", session.pk)).content.decode()
        assert name in page

    def test_the_pairing_page_offers_the_qr_code_only(self, vps, staff_client, scene):
        session = pairing_start(organization=scene.organization, predecessor=scene.old)

        page = staff_client.get(session_url("pairing", session.pk, f"predecessor={scene.old.pk}"))
        content = page.content.decode()
        assert 'id="pairing-qr-image"' in content
        assert 'id="pairing-qr-only"' in content
        assert 'id="pairing-code-form"' not in content
        qr = staff_client.get(session_url("pairing_qr", session.pk))
        assert (qr.status_code, qr.content[:4]) == (HTTPStatus.OK, b"\x89PNG")

    def test_a_code_asked_for_anyway_is_refused_in_one_line(self, vps, staff_client, scene):
        session = pairing_start(organization=scene.organization, predecessor=scene.old)
        vps.requests.clear()
        before = database_state()

        answer = staff_client.post(session_url("pairing_code", session.pk), {"phone_number": PHONE})

        assert answer.status_code == HTTPStatus.BAD_GATEWAY
        assert answer.json() == {
            "error": "This gateway links phones by QR code only: scan the QR code instead."
        }
        assert vps.requests == []
        assert database_state() == before

    def test_without_the_webhook_secret_nothing_is_paired(self, vps, settings, staff_client, scene):
        settings.WHATSAPP_VPS_WEBHOOK_SECRET = ""
        before = database_state()

        response = staff_client.post(session_url("pair", scene.old.pk), follow=True)

        (message,) = [str(m) for m in response.context["messages"]]
        assert message.startswith("Nothing was paired. No secret is configured for the VPS")
        assert "WHATSAPP_VPS_WEBHOOK_SECRET" in message
        assert database_state() == before
        assert vps.requests == []


class TestSimulatedScan:
    """The console backend pairs on a button, so `make run` shows the flow without a gateway."""

    def test_console_pairs_the_number_and_the_references_move(self, settings, staff_client, scene):
        settings.WHATSAPP_GATEWAY_BACKEND = "sessions_app.gateway.console.GatewayBackend"
        session = pairing_start(organization=scene.organization, predecessor=scene.old)
        page = staff_client.get(session_url("pairing", session.pk, f"predecessor={scene.old.pk}"))
        assert b'id="pairing-simulate-button"' in page.content

        staff_client.post(
            session_url("pairing_simulate_scan", session.pk, f"predecessor={scene.old.pk}"),
            {"phone_number": "+55 11 98765-4321"},
        )

        session.refresh_from_db()
        scene.old.refresh_from_db()
        assert (session.status, session.phone_number) == ("connected", PHONE)
        assert scene.old.superseded_by_id == session.pk
        url = session_url("pairing_status", session.pk, f"predecessor={scene.old.pk}")
        progress = staff_client.get(url).json()
        assert progress["outcome"] == "connected"
        assert "Workshops: 2" in progress["migrations"][0]["summary"]

    def test_the_page_and_its_script_speak_the_staff_members_language(
        self, settings, staff_client, scene
    ):
        """What the script shows comes translated: from the page (when the admin does not
        answer) and from the status it polls."""
        settings.WHATSAPP_GATEWAY_BACKEND = "sessions_app.gateway.console.GatewayBackend"
        session = pairing_start(organization=scene.organization, predecessor=scene.old)
        query = f"predecessor={scene.old.pk}"
        page = staff_client.get(
            session_url("pairing", session.pk, query), HTTP_ACCEPT_LANGUAGE="pt-BR"
        )
        assert 'data-no-answer="O admin não respondeu; tente de novo."' in page.content.decode()

        staff_client.post(
            session_url("pairing_simulate_scan", session.pk, query), {"phone_number": PHONE}
        )
        progress = staff_client.get(
            session_url("pairing_status", session.pk, query), HTTP_ACCEPT_LANGUAGE="pt-BR"
        ).json()
        assert progress["status_label"] == "Conectada"
        assert progress["message"].startswith(f"Conectada como {PHONE}.")
        assert progress["migrations"][0]["summary"].startswith("Oficinas: 2")
        assert progress["migrations"][0]["source"] == f"da sessão {str(scene.old.pk)[:8]}"

    def test_a_real_gateway_refuses_to_pretend(self, waha, staff_client, scene):
        session = pairing_start(organization=scene.organization, predecessor=scene.old)
        before = database_state()
        response = staff_client.post(
            session_url("pairing_simulate_scan", session.pk), {"phone_number": PHONE}, follow=True
        )
        assert "pairs real phones only" in response.content.decode()
        assert database_state() == before


class TestLogOut:
    @pytest.fixture
    def paired(self, waha, scene):
        session = pairing_start(organization=scene.organization, predecessor=scene.old)
        waha.statuses[session.gateway_session_name] = {"status": "WORKING"}
        WhatsAppSession.objects.filter(pk=session.pk).update(status="connected", phone_number=PHONE)
        waha.requests.clear()
        return session

    def test_confirmation_then_log_out_and_disconnected(self, waha, staff_client, paired):
        before = database_state()
        page = staff_client.get(session_url("logout", paired.pk))
        assert b'id="confirm-logout"' in page.content
        assert database_state() == before and waha.requests == []

        response = staff_client.post(session_url("logout", paired.pk), {"post": "yes"})

        assert response.url == session_url("change", paired.pk)
        paired.refresh_from_db()
        assert paired.status == "disconnected"
        assert paired.phone_number == PHONE  # a session keeps its phone for life
        name = paired.gateway_session_name
        assert [(r.method, r.path) for r in waha.requests] == [
            ("POST", f"/api/sessions/{name}/logout"),
            ("POST", f"/api/sessions/{name}/stop"),
        ]

    def test_a_failing_gateway_changes_nothing(self, waha, staff_client, paired):
        waha.script.append((HTTPStatus.INTERNAL_SERVER_ERROR, {"message": "engine crashed"}))
        before = database_state()
        response = staff_client.post(session_url("logout", paired.pk), {"post": "yes"}, follow=True)
        (message,) = [str(m) for m in response.context["messages"]]
        assert "not logged out" in message and "engine crashed" in message
        assert database_state() == before

    def test_needs_the_change_permission(self, waha, client, scene, paired):
        viewer = [p for p in PAIRING_PERMISSIONS if p != "sessions_app.change_whatsappsession"]
        client.force_login(staff_member(scene.organization, permissions=viewer))
        before = database_state()
        response = client.post(session_url("logout", paired.pk), {"post": "yes"})
        assert response.status_code == HTTPStatus.FORBIDDEN
        assert database_state() == before and waha.requests == []

    def test_another_organizations_session_does_not_exist(self, waha, client, paired):
        client.force_login(
            staff_member(factories.OrganizationFactory(), permissions=PAIRING_PERMISSIONS)
        )
        before = database_state()
        response = client.post(session_url("logout", paired.pk), {"post": "yes"})
        assert response.status_code == HTTPStatus.NOT_FOUND
        assert database_state() == before and waha.requests == []


class TestProgress:
    def test_another_phone_is_told_apart(self, scene):
        locmem.reset()
        session = pairing_start(organization=scene.organization, predecessor=scene.old)
        WhatsAppSession.objects.filter(pk=session.pk).update(
            status="connected", phone_number="+5521998765432"
        )
        session.refresh_from_db()
        progress = pairing_progress(session=session, predecessor=scene.old)
        assert (progress.outcome, progress.migrations) == ("other_phone", [])


def post_status(client, name: str, *, metadata=None, status="WORKING", phone=PHONE):
    """A signed WAHA `session.status` webhook for `name`."""
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "event": "session.status",
        "session": name,
        "me": {"id": f"{phone.lstrip('+')}@c.us"} if phone else None,
        "payload": {"status": status},
    }
    if metadata is not None:
        event["metadata"] = metadata
    body = json.dumps(event).encode()
    return client.post(
        "/webhooks/whatsapp/",
        data=body,
        content_type="application/json",
        HTTP_X_WEBHOOK_HMAC=webhook_signature(body, secret=settings.WHATSAPP_WEBHOOK_SECRET),
    )


class TestWebhookForAPairingStartedElsewhere:
    def test_metadata_naming_the_organization_creates_the_session(self, client, scene):
        session_id = uuid.uuid4()
        metadata = {"organization": str(scene.organization.pk), "session": str(session_id)}

        response = post_status(client, "started-elsewhere", metadata=metadata)

        assert response.status_code == HTTPStatus.OK, response.content
        session = WhatsAppSession.objects.get(pk=session_id)
        assert session.organization_id == scene.organization.pk
        assert session.gateway_session_name == "started-elsewhere"
        assert (session.status, session.phone_number) == ("connected", PHONE)
        # The automatic path ran as on any reconnect of the same phone.
        scene.old.refresh_from_db()
        assert scene.old.superseded_by_id == session.pk
        assert SessionMigration.objects.get(old_session=scene.old).new_session_id == session.pk

    def test_a_second_report_finds_the_created_session(self, client, scene):
        metadata = {"organization": str(scene.organization.pk)}
        post_status(client, "started-elsewhere", metadata=metadata, status="SCAN_QR_CODE", phone="")
        post_status(client, "started-elsewhere", metadata=metadata)
        session = WhatsAppSession.objects.get(session_data__session_name="started-elsewhere")
        assert (session.status, session.phone_number) == ("connected", PHONE)

    @pytest.mark.parametrize(
        "metadata", [None, {}, {"organization": str(uuid.uuid4())}, {"user.id": "123"}]
    )
    def test_without_an_organization_it_is_404_and_nothing_changes(self, client, scene, metadata):
        before = database_state()
        response = post_status(client, "nobody-knows", metadata=metadata)
        assert response.status_code == HTTPStatus.NOT_FOUND
        assert "nobody-knows" in response.json()["error"]
        assert database_state() == before


class TestSessionFromMetadata:
    def test_creates_the_session_in_the_named_organization(self, scene):
        session_id = uuid.uuid4()
        session = session_create_from_gateway_metadata(
            name="aurora-outside",
            metadata={"organization": str(scene.organization.pk), "session": str(session_id)},
        )
        assert (session.pk, session.organization_id) == (session_id, scene.organization.pk)
        assert (session.status, session.gateway_session_name) == ("connecting", "aurora-outside")

    @pytest.mark.parametrize("name", ["instituto-aurora-old", "another-name"])
    def test_an_id_some_session_has_is_never_created_again(self, scene, name):
        before = database_state()
        metadata = {"organization": str(scene.organization.pk), "session": str(scene.old.pk)}
        assert session_create_from_gateway_metadata(name=name, metadata=metadata) is None
        assert database_state() == before

    def test_without_a_session_id_it_gets_a_new_one(self, scene):
        metadata = {"organization": str(scene.organization.pk)}
        session = session_create_from_gateway_metadata(name="outside", metadata=metadata)
        assert session.organization_id == scene.organization.pk

    @pytest.mark.parametrize(
        "metadata",
        [None, {}, {"organization": "not-a-uuid"}, {"organization": str(uuid.uuid4())}, "x"],
    )
    def test_without_a_known_organization_nothing_is_created(self, metadata):
        before = database_state()
        assert session_create_from_gateway_metadata(name="n", metadata=metadata) is None
        assert database_state() == before


def start_pairing(client, scene) -> tuple[WhatsAppSession, str]:
    response = client.post(session_url("pair", scene.old.pk))
    assert response.status_code == HTTPStatus.FOUND, response
    session = WhatsAppSession.objects.exclude(pk=scene.old.pk).get(organization=scene.organization)
    status_url = session_url("pairing_status", session.pk, f"predecessor={scene.old.pk}")
    return session, status_url


@pytest.mark.django_db(transaction=True)
class TestWholeFlowOverHttp:
    """The admin starts the session on the fake WAHA, the fake "scans" and posts its signed
    report to the live server's webhook, and the admin's status shows what moved (or, for
    another phone, that nothing did)."""

    @pytest.fixture
    def live_waha(self, settings, live_server):
        with fake_waha() as server:
            use_fake_waha(settings, server, webhook_url=f"{live_server.url}/webhooks/whatsapp/")
            yield server

    def test_same_phone_everything_moves_to_the_new_session(self, live_waha, staff_client, scene):
        session, status_url = start_pairing(staff_client, scene)
        resynced_message = resync_a_group(scene, session)
        assert staff_client.get(status_url).json()["outcome"] == "waiting"

        webhook = live_waha.scan(session.gateway_session_name, PHONE)

        assert webhook.status_code == HTTPStatus.OK, webhook.text
        progress = staff_client.get(status_url).json()
        assert (progress["outcome"], progress["phone_number"]) == ("connected", PHONE)
        assert "now points at the new session" in progress["message"]
        migration = SessionMigration.objects.get(old_session=scene.old, new_session=session)
        assert migration.trigger == SessionMigration.Trigger.AUTOMATIC
        assert migration.counts == MOVED_WITH_A_RESYNCED_GROUP
        (shown,) = progress["migrations"]
        assert shown["url"] == reverse(
            "admin:sessions_app_sessionmigration_change", args=[migration.pk]
        )
        assert shown["summary"].startswith("Workshops: 2, Webinars: 1, Active campaigns: 1")
        assert staff_client.get(shown["url"]).status_code == HTTPStatus.OK

        session.refresh_from_db()
        scene.old.refresh_from_db()
        assert (session.status, session.phone_number) == ("connected", PHONE)
        assert scene.old.superseded_by_id == session.pk
        for row in [*scene.workshops, *scene.webinars]:
            row.refresh_from_db()
            assert row.whatsapp_session_id == session.pk
        campaign = NotificationCampaign.objects.get(pk=scene.campaigns[0].pk)
        assert campaign.session_id == session.pk
        resynced_message.refresh_from_db()
        assert resynced_message.group.session_id == session.pk
        assert resynced_message.status == ScheduledWhatsAppMessage.Status.PENDING

    def test_another_phone_moves_nothing_and_says_which_phone(self, live_waha, staff_client, scene):
        session, status_url = start_pairing(staff_client, scene)

        assert (
            live_waha.scan(session.gateway_session_name, OTHER_PHONE).status_code == HTTPStatus.OK
        )

        progress = staff_client.get(status_url).json()
        assert (progress["outcome"], progress["phone_number"]) == ("other_phone", OTHER_PHONE)
        assert OTHER_PHONE in progress["message"] and PHONE in progress["message"]
        assert "Nothing moved" in progress["message"]
        assert progress["migrations"] == []
        scene.old.refresh_from_db()
        assert scene.old.superseded_by_id is None
        for row in scene.workshops:
            row.refresh_from_db()
            assert row.whatsapp_session_id == scene.old.pk
