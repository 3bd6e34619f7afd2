"""Every shape a gateway reports a phone in is stored as the one E.164 number."""

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from sessions_app.models import WhatsAppSession
from sessions_app.phones import normalize_phone_number
from tests import factories

SAME_PHONE = [
    "+55 11 99999-9999",
    "5511999999999",
    "5511999999999@c.us",
    "5511999999999@s.whatsapp.net",
    "5511999999999:12@s.whatsapp.net",
]
E164 = "+5511999999999"

NOT_A_PHONE = [
    "not a phone",
    "12345",
    "+55 11 0000-0000",
    "120363041234567801@g.us",  # a group's id, not a person's
    "   ",
]


@pytest.mark.parametrize("reported", SAME_PHONE)
def test_every_reported_shape_normalizes_to_e164(reported):
    assert normalize_phone_number(reported) == E164


@pytest.mark.parametrize("reported", NOT_A_PHONE)
def test_an_unreadable_number_is_an_error_naming_it(reported):
    with pytest.raises(ValidationError) as error:
        normalize_phone_number(reported)

    assert repr(reported) in error.value.messages[0]
    assert error.value.code == "invalid_phone_number"


@pytest.mark.django_db
class TestOnTheModel:
    @pytest.mark.parametrize("reported", SAME_PHONE)
    def test_full_clean_normalizes(self, reported):
        session = factories.WhatsAppSessionFactory.build(
            organization=factories.OrganizationFactory(), phone_number=reported
        )

        session.full_clean()

        assert session.phone_number == E164

    @pytest.mark.parametrize("reported", SAME_PHONE)
    def test_save_stores_e164(self, reported):
        session = factories.WhatsAppSessionFactory(phone_number=reported)

        assert WhatsAppSession.objects.get(pk=session.pk).phone_number == E164
        assert WhatsAppSession.objects.filter(phone_number=E164).count() == 1

    @pytest.mark.parametrize("reported", NOT_A_PHONE)
    def test_full_clean_reports_the_value_on_the_phone_field(self, reported):
        session = factories.WhatsAppSessionFactory.build(
            organization=factories.OrganizationFactory(), phone_number=reported
        )

        with pytest.raises(ValidationError) as error:
            session.full_clean()

        assert list(error.value.message_dict) == ["phone_number"]
        assert repr(reported) in error.value.message_dict["phone_number"][0]

    @pytest.mark.parametrize("reported", NOT_A_PHONE)
    def test_save_refuses_and_stores_nothing(self, reported):
        organization = factories.OrganizationFactory()

        with pytest.raises(ValidationError) as error, transaction.atomic():
            WhatsAppSession.objects.create(organization=organization, phone_number=reported)

        assert repr(reported) in error.value.messages[0]
        assert not WhatsAppSession.objects.exists()

    def test_a_session_may_have_no_phone_until_the_gateway_reports_it(self):
        session = factories.WhatsAppSessionFactory(
            phone_number=None, status=WhatsAppSession.Status.CONNECTING
        )

        session.full_clean()
        assert WhatsAppSession.objects.get(pk=session.pk).phone_number is None
