"""Data for the admin tests: staff members and a phone that reconnected with rows left behind."""

import datetime as dt
from dataclasses import dataclass, field

from django.contrib.auth.models import Permission
from django.utils import timezone
from django.utils.text import slugify

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage
from sessions_app.models import Organization, WhatsAppSession
from tests import factories

# Everything a staff member of an organization works with, plus moving references.
STAFF_PERMISSIONS = [
    "sessions_app.view_organization",
    "sessions_app.change_organization",
    "sessions_app.view_whatsappsession",
    "sessions_app.change_whatsappsession",
    "sessions_app.migrate_whatsappsession",
    "sessions_app.view_whatsappgroup",
    "sessions_app.change_whatsappgroup",
    "sessions_app.view_sessionmigration",
    "scheduling.view_workshop",
    "scheduling.change_workshop",
    "scheduling.view_webinar",
    "scheduling.view_notificationcampaign",
    "scheduling.view_scheduledwhatsappmessage",
]
PASSWORD = "correct horse battery staple"


def staff_member(*organizations, username=None, permissions=STAFF_PERMISSIONS, migrate=True):
    """A staff user who belongs to `organizations` and holds `permissions`."""
    kwargs = {"username": username} if username else {}
    user = factories.UserFactory(**kwargs)
    for organization in organizations:
        factories.MembershipFactory(user=user, organization=organization)
    codenames = [
        name.split(".", 1)[1]
        for name in permissions
        if migrate or name != "sessions_app.migrate_whatsappsession"
    ]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@dataclass
class ReconnectedPhone:
    """An old, disconnected session that rows still point at, and the phone's new session."""

    organization: Organization
    old: WhatsAppSession
    new: WhatsAppSession
    workshops: list = field(default_factory=list)
    webinars: list = field(default_factory=list)
    campaigns: list = field(default_factory=list)
    finished_campaigns: list = field(default_factory=list)
    groups: list = field(default_factory=list)
    pending_messages: list = field(default_factory=list)
    sent_messages: list = field(default_factory=list)

    def expected_counts(self) -> dict[str, int]:
        return {
            "workshops": len(self.workshops),
            "webinars": len(self.webinars),
            "campaigns": len(self.campaigns),
            "organizations": 1,
            "groups_moved": len(self.groups),
            "groups_merged": 0,
            "scheduled_messages": 0,
            # They move with their groups, untouched.
            "messages_with_groups": len(self.pending_messages),
        }


def reconnected_phone(
    organization: Organization | None = None,
    *,
    phone_number: str = "+5511988887777",
    workshops: int = 2,
    webinars: int = 1,
) -> ReconnectedPhone:
    """Build the state right before a move: the new session exists first, so nothing moved yet."""
    organization = organization or factories.OrganizationFactory()
    now = timezone.now()
    new = factories.WhatsAppSessionFactory(
        organization=organization,
        phone_number=phone_number,
        status=WhatsAppSession.Status.CONNECTED,
        connected_at=now,
        session_data={"session_name": f"{slugify(organization.name)}-{phone_number[-4:]}-new"},
    )
    old = factories.WhatsAppSessionFactory(
        organization=organization,
        phone_number=phone_number,
        status=WhatsAppSession.Status.DISCONNECTED,
        connected_at=now - dt.timedelta(days=30),
        disconnected_at=now - dt.timedelta(hours=2),
        session_data={"session_name": f"{slugify(organization.name)}-{phone_number[-4:]}-old"},
    )
    WhatsAppSession.objects.filter(pk=old.pk).update(created_at=now - dt.timedelta(days=30))
    old.refresh_from_db()
    scene = ReconnectedPhone(organization=organization, old=old, new=new)
    for _ in range(workshops):
        scene.workshops.append(
            factories.WorkshopFactory(organization=organization, whatsapp_session=old)
        )
    for _ in range(webinars):
        scene.webinars.append(
            factories.WebinarFactory(organization=organization, whatsapp_session=old)
        )
    scene.campaigns.append(
        factories.NotificationCampaignFactory(organization=organization, session=old)
    )
    scene.finished_campaigns.append(
        factories.NotificationCampaignFactory(
            organization=organization, session=old, status=NotificationCampaign.Status.COMPLETED
        )
    )
    organization.community_session = old
    organization.save(update_fields=["community_session"])
    for event in scene.workshops[:1]:
        message = factories.ScheduledWhatsAppMessageFactory(workshop=event)
        scene.groups.append(message.group)
        scene.pending_messages.append(message)
        scene.sent_messages.append(
            factories.ScheduledWhatsAppMessageFactory(
                workshop=event,
                group=message.group,
                status=ScheduledWhatsAppMessage.Status.SENT,
                sent_at=now,
            )
        )
    return scene
