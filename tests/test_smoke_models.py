import pytest

from tests import factories

pytestmark = pytest.mark.django_db


def test_every_factory_builds_a_saved_row():
    message = factories.ScheduledWhatsAppMessageFactory()
    assert message.group.session == message.workshop.whatsapp_session
    webinar_message = factories.ScheduledWhatsAppMessageFactory(
        workshop=None, webinar=factories.WebinarFactory()
    )
    assert webinar_message.group.session == webinar_message.webinar.whatsapp_session
    migration = factories.SessionMigrationFactory()
    assert migration.organization == migration.new_session.organization
    assert factories.NotificationCampaignFactory().session.organization_id
    assert factories.MembershipFactory().user.check_password("correct horse battery staple")
