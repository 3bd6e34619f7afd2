import datetime as dt

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Webinar, Workshop
from sessions_app.models import (
    Organization,
    OrganizationMembership,
    SessionMigration,
    WhatsAppGroup,
    WhatsAppSession,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    is_staff = True
    password = factory.django.Password("correct horse battery staple")


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrganizationMembership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)


class WhatsAppSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WhatsAppSession

    organization = factory.SubFactory(OrganizationFactory)
    phone_number = factory.Sequence(lambda n: f"+55119{n % 100000000:08d}")
    status = WhatsAppSession.Status.CONNECTED
    session_data = factory.Sequence(lambda n: {"session_name": f"session-{n}"})
    connected_at = factory.LazyFunction(timezone.now)


class WhatsAppGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WhatsAppGroup

    session = factory.SubFactory(WhatsAppSessionFactory)
    group_jid = factory.Sequence(lambda n: f"1203630{n:011d}@g.us")
    name = factory.Sequence(lambda n: f"Group {n}")
    is_active = True


class _EventFactory(factory.django.DjangoModelFactory):
    organization = factory.SubFactory(OrganizationFactory)
    starts_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=7))
    whatsapp_session = factory.SubFactory(
        WhatsAppSessionFactory, organization=factory.SelfAttribute("..organization")
    )


class WorkshopFactory(_EventFactory):
    class Meta:
        model = Workshop

    title = factory.Sequence(lambda n: f"Workshop {n}")


class WebinarFactory(_EventFactory):
    class Meta:
        model = Webinar

    title = factory.Sequence(lambda n: f"Webinar {n}")


class NotificationCampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NotificationCampaign

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")
    session = factory.SubFactory(
        WhatsAppSessionFactory, organization=factory.SelfAttribute("..organization")
    )
    status = NotificationCampaign.Status.SCHEDULED
    body = "Hello from the campaign"
    scheduled_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=1))


class ScheduledWhatsAppMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScheduledWhatsAppMessage

    workshop = factory.SubFactory(WorkshopFactory)
    webinar = None
    group = factory.SubFactory(
        WhatsAppGroupFactory,
        session=factory.LazyAttribute(lambda g: g.factory_parent.event.whatsapp_session),
    )
    body = factory.Sequence(lambda n: f"Reminder {n}")
    send_at = factory.LazyFunction(timezone.now)
    status = ScheduledWhatsAppMessage.Status.PENDING

    class Params:
        event = factory.LazyAttribute(lambda m: m.workshop or m.webinar)


class SessionMigrationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SessionMigration

    old_session = factory.SubFactory(
        WhatsAppSessionFactory, status=WhatsAppSession.Status.DISCONNECTED
    )
    new_session = factory.SubFactory(
        WhatsAppSessionFactory, organization=factory.SelfAttribute("..old_session.organization")
    )
    organization = factory.SelfAttribute("old_session.organization")
    trigger = SessionMigration.Trigger.ADMIN
    counts = factory.LazyFunction(dict)
    moved_ids = factory.LazyFunction(dict)
