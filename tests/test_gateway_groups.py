"""`list_groups` of the WAHA, console and in-memory backends."""

import pytest

from sessions_app.gateway import GatewayGroup, PermanentGatewayError, get_gateway, locmem
from tests.factories import WhatsAppGroupFactory, WhatsAppSessionFactory
from tests.fake_waha import FakeWaha

WAHA = "sessions_app.gateway.waha.GatewayBackend"


@pytest.fixture
def waha():
    with FakeWaha(api_key="k") as server:
        yield server


def waha_backend(server):
    return get_gateway(WAHA, base_url=server.url, api_key="k", timeout=2.0)


class TestWaha:
    def test_noweb_answers_an_object_keyed_by_group_id(self, waha):
        waha.groups["aurora"] = {
            "111@g.us": {"id": "111@g.us", "subject": "Turma A", "announce": False},
            "222@g.us": {"id": "222@g.us", "subject": "Aurora", "isCommunity": True},
            "333@g.us": {"id": "333@g.us", "subject": "Avisos", "isCommunityAnnounce": True},
        }
        assert waha_backend(waha).list_groups("aurora") == [
            GatewayGroup("111@g.us", "Turma A"),
            GatewayGroup("222@g.us", "Aurora", is_community=True),
            GatewayGroup("333@g.us", "Avisos", is_announcement=True),
        ]
        assert waha.requests[-1].path == "/api/aurora/groups?exclude=participants"

    def test_webjs_answers_chats_with_serialized_ids(self, waha):
        waha.groups["aurora"] = [
            {
                "id": {"server": "g.us", "user": "111", "_serialized": "111@g.us"},
                "name": "Turma A",
                "groupMetadata": {"subject": "Turma A", "announce": True},
            }
        ]
        assert waha_backend(waha).list_groups("aurora") == [
            GatewayGroup("111@g.us", "Turma A", is_announcement=True)
        ]

    def test_gows_answers_capitalised_fields(self, waha):
        waha.groups["aurora"] = [
            {"JID": "111@g.us", "Name": "Turma A", "IsParent": False, "IsAnnounce": False},
            {"JID": "222@g.us", "Name": "Aurora", "IsParent": True},
        ]
        assert waha_backend(waha).list_groups("aurora") == [
            GatewayGroup("111@g.us", "Turma A"),
            GatewayGroup("222@g.us", "Aurora", is_community=True),
        ]

    def test_an_unknown_session_is_permanent(self, waha):
        with pytest.raises(PermanentGatewayError, match="404"):
            waha_backend(waha).list_groups("nobody")

    @pytest.mark.parametrize("body", ["groups", [["111@g.us"]], [{"subject": "no id"}]])
    def test_nonsense_is_permanent(self, waha, body):
        waha.groups["aurora"] = body
        with pytest.raises(PermanentGatewayError):
            waha_backend(waha).list_groups("aurora")


def test_locmem_lists_what_the_test_set_and_refuses_an_unknown_session():
    locmem.groups.clear()
    locmem.groups["aurora"] = [GatewayGroup("111@g.us", "Turma A")]
    try:
        gateway = get_gateway("sessions_app.gateway.locmem.GatewayBackend")
        assert gateway.list_groups("aurora") == [GatewayGroup("111@g.us", "Turma A")]
        with pytest.raises(PermanentGatewayError, match="no session 'other'"):
            gateway.list_groups("other")
    finally:
        locmem.groups.clear()


@pytest.mark.django_db
def test_console_lists_the_groups_the_database_knows_so_a_sync_keeps_them():
    session = WhatsAppSessionFactory(session_data={"session_name": "demo-1"})
    WhatsAppGroupFactory(session=session, group_jid="111@g.us", name="Turma A")
    WhatsAppGroupFactory(session=session, group_jid="222@g.us", name="Old", is_active=False)
    WhatsAppGroupFactory(group_jid="333@g.us")  # another session's

    listed = get_gateway("sessions_app.gateway.console.GatewayBackend").list_groups("demo-1")

    assert listed == [GatewayGroup("111@g.us", "Turma A")]
