"""What a migration of sessions does to this app's foreign keys to sessions and groups.

Collected by `sessions_app.references.declared_references`. The keys they add to a migration's
counts (and its audit's `moved_ids`):

- `workshops`, `webinars`: events re-pointed to the new session;
- `campaigns`: scheduled, pending and sending campaigns re-pointed;
- `scheduled_messages`: pending messages re-pointed from a merged group to the new session's
  group of the same `group_jid`;
- `messages_with_groups`: pending messages that changed session with their moved group,
  untouched.

Staff read the two message keys as one column, "Pending messages": the same rows the session
page's panel counts in the session's groups.
"""

from django.utils.translation import gettext_lazy as _

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage
from sessions_app.references import Move, Reference, RepointOnMerge

REFERENCES = (
    Reference("scheduling.Workshop.whatsapp_session", Move("workshops", _("Workshops"))),
    Reference("scheduling.Webinar.whatsapp_session", Move("webinars", _("Webinars"))),
    # Campaigns still to be sent follow a reconnect; finished ones keep their history.
    Reference(
        "scheduling.NotificationCampaign.session",
        Move(
            "campaigns",
            _("Active campaigns"),
            where={"status__in": NotificationCampaign.ACTIVE_STATUSES},
        ),
    ),
    Reference(
        "scheduling.ScheduledWhatsAppMessage.group",
        RepointOnMerge(
            "scheduled_messages",
            _("Pending messages"),
            where={"status": ScheduledWhatsAppMessage.Status.PENDING},
            followed_key="messages_with_groups",
        ),
    ),
)
